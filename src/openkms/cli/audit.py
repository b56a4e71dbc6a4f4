"""``openkms audit``: verify, seal and export the tamper-evident audit trail.

    openkms audit verify [--data-dir DIR | --database URL]   the stored trail (read-only)
                         [--digests-from DIR] [--expect-fingerprint FP ...]
                         [--trusted-fingerprints FILE] [--as-of T]
    openkms audit verify EXPORT_DIR [--expect-fingerprint FP ...]   an export, offline
    openkms audit seal [--data-dir DIR | --database URL]     sign a digest now
    openkms audit rotate-signing-key [--replace-lost-key] [--data-dir DIR | --database URL]
    openkms audit export --out DIR [--since T] [--until T] [--seal]
                         [--data-dir DIR | --database URL]

``verify`` exits 0 with a one-line summary on an intact trail, and 1 naming the first
bad record otherwise; it needs neither the root key nor a server (the digests are
checked with the stored, or exported, public keys: pin them with
``--expect-fingerprint``, or compare the printed fingerprint out of band). It checks the
stored trail against the clock (``--as-of`` for a copy of a database): the newest
digest must be recent (a running server signs one every minute at least) or a clean
stop. ``--digests-from`` checks the trail against the copy of its digests the server
keeps outside the database (``serve --audit-digest-dir``). ``seal``,
``rotate-signing-key`` and ``export --seal`` need the root key, as ``openkms serve``
does. ``export`` refuses a trail that does not verify. None of them creates state: a data directory,
database or root key that is not there is refused with one line (exit statuses in
openkms.cli.exit_codes). T is ISO-8601 (``2025-05-20T20:45:00Z``; a time
without a zone is UTC).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from openkms.audit.verify import VerifyReport
    from openkms.cli.parsing import Commands
    from openkms.crypto.keyring import Keyring
    from openkms.domain.audit import Digest, StoredEvent
    from openkms.storage.repository import Store

_PAGE = 1000


def _timestamp(value: str) -> float:
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 time: {value!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _storage_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", help="state directory, as for serve; default: the per-user data directory"
    )
    parser.add_argument("--database", help="database URL, e.g. postgresql://user@host/db")


def add_parser(commands: Commands) -> None:
    """Register ``audit`` and its subcommands on the top-level subparsers."""
    audit = commands.add_parser("audit", help="verify, seal and export the audit trail")
    actions = audit.add_subparsers(
        dest="audit_command", metavar="COMMAND", required=True, parser_class=type(audit)
    )
    verify = actions.add_parser("verify", help="verify the stored trail or an export")
    verify.add_argument(
        "export_dir",
        metavar="EXPORT_DIR",
        nargs="?",
        help="verify this export offline instead of the database",
    )
    _storage_options(verify)
    verify.add_argument(
        "--digests-from",
        metavar="DIR",
        help="check the stored trail against this copy of its digests "
        "(the server's --audit-digest-dir)",
    )
    verify.add_argument(
        "--expect-fingerprint",
        metavar="FP",
        action="append",
        default=[],
        help="a trusted signing key (SHA-256 of its public key, hex; repeatable): the "
        "first digest must be signed by one, and a key change must be endorsed by the "
        "key before it or be trusted itself",
    )
    verify.add_argument(
        "--trusted-fingerprints",
        metavar="FILE",
        help="a file of trusted fingerprints, one a line (# starts a comment)",
    )
    verify.add_argument(
        "--as-of",
        type=_timestamp,
        help="check the digests' schedule as of this time (a copy of a database) "
        "instead of now (ISO-8601)",
    )
    seal = actions.add_parser("seal", help="sign a digest over the records not yet sealed")
    _storage_options(seal)
    rotate = actions.add_parser(
        "rotate-signing-key",
        help="replace the audit signing key; the old key signs a digest endorsing the new one",
    )
    rotate.add_argument(
        "--replace-lost-key",
        action="store_true",
        help="the old key is gone: the new key continues the digest chain unendorsed, and "
        "verifiers must trust its fingerprint explicitly",
    )
    _storage_options(rotate)
    export = actions.add_parser("export", help="write CloudTrail-style log and digest files")
    export.add_argument("--out", required=True, help="output directory")
    export.add_argument("--since", type=_timestamp, help="first event time (ISO-8601)")
    export.add_argument("--until", type=_timestamp, help="last event time (ISO-8601)")
    export.add_argument(
        "--seal", action="store_true", help="seal a digest first (needs the root key)"
    )
    _storage_options(export)


def run(args: argparse.Namespace) -> int:
    from openkms.audit.verify import AuditIntegrityError
    from openkms.cli.exit_codes import Exit, fail, startup_failure
    from openkms.server.bootstrap import StartupError
    from openkms.service.audit_sealer import RotationRefused, SigningKeyMissingError
    from openkms.storage.repository import StorageError

    try:
        if args.audit_command == "verify":
            trusted = _trusted(args)
            if isinstance(trusted, str):
                return fail(trusted, Exit.USAGE)
            if args.export_dir is not None:
                return _verify_export(args.export_dir, trusted)
            return _verify_database(args, trusted)
        if args.audit_command == "seal":
            return _seal(args)
        if args.audit_command == "rotate-signing-key":
            return _rotate(args)
        return _export(args)
    except AuditIntegrityError as exc:
        return fail(f"audit trail verification failed: {exc}", Exit.NEGATIVE)
    except RotationRefused as exc:
        return fail(str(exc), Exit.NEGATIVE)
    except SigningKeyMissingError:
        return fail(
            "the audit signing key is missing from a database whose audit trail was "
            "written: restore it from a backup, or run 'openkms audit rotate-signing-key "
            "--replace-lost-key'",
            Exit.MISSING_STATE,
        )
    except StartupError as exc:
        return startup_failure(exc)
    except StorageError as exc:
        return fail(f"database error: {exc}", Exit.DATABASE)


_FINGERPRINT = re.compile(r"[0-9a-f]{64}")


def _trusted(args: argparse.Namespace) -> frozenset[str] | None | str:
    """The trusted fingerprints given (None: none given), or what is wrong with them."""
    given = [fp.strip().lower().replace(":", "") for fp in args.expect_fingerprint]
    if args.trusted_fingerprints is not None:
        try:
            with open(args.trusted_fingerprints, encoding="utf-8") as fh:
                lines = fh.read().splitlines()
        except OSError as exc:
            return f"cannot read {args.trusted_fingerprints}: {exc.strerror}"
        for line in lines:
            text = line.split("#", 1)[0].strip().lower().replace(":", "")
            if text:
                given.append(text)
        if not given:
            return f"{args.trusted_fingerprints} names no fingerprint"
    for fp in given:
        if not _FINGERPRINT.fullmatch(fp):
            return f"not a SHA-256 fingerprint (64 hex digits): {fp!r}"
    return frozenset(given) if given else None


def _verify_export(directory: str, trusted: frozenset[str] | None) -> int:
    from openkms.audit.export import verify_export
    from openkms.crypto.signing import verify

    if not os.path.isdir(directory):
        from openkms.cli.exit_codes import Exit, fail

        return fail(f"{directory} is not a directory", Exit.MISSING_STATE)
    report = verify_export(directory, verify, trusted=trusted)
    print(report.summary().replace("audit trail", "export", 1))
    return 0


def _open_read_only(args: argparse.Namespace) -> Store:
    """The store alone (no root key; nothing created)."""
    from openkms.cli.admin import cli_settings
    from openkms.server.bootstrap import open_store

    return open_store(cli_settings(args), create=False)


def _open_with_keyring(args: argparse.Namespace) -> tuple[Store, Keyring]:
    from openkms.cli.admin import open_cli_state

    return open_cli_state(args)


def _events(store: Store, after: int, upto: int) -> Iterator[StoredEvent]:
    """Stored records ``after < seq <= upto``, page by page."""
    from openkms.storage.audit import trail

    while after < upto:
        with store.transaction() as tx:
            page = trail.read_chain(tx, after_seq=after, limit=_PAGE)
        for event in page:
            if event.seq > upto:
                return
            yield event
        if len(page) < _PAGE:
            return
        after = page[-1].seq


def _digests(store: Store, upto: int) -> Iterator[Digest]:
    """Stored digests numbered up to ``upto``, page by page."""
    from openkms.storage.audit import digests as digest_store

    after = 0
    while after < upto:
        with store.transaction() as tx:
            page = digest_store.read_digests(tx, after=after, limit=_PAGE)
        for digest in page:
            if digest.number > upto:
                return
            yield digest
        if len(page) < _PAGE:
            return
        after = page[-1].number


def check_store(
    store: Store,
    *,
    now: float | None = None,
    trusted: frozenset[str] | None = None,
    digests_from: str | None = None,
) -> VerifyReport:
    """Verify the stored trail up to the head read at the start (records appended
    meanwhile are left for the next run); returns the report. ``now``: check the
    digests' schedule as of then; ``digests_from``: a copy of the digests kept outside
    the database (``serve --audit-digest-dir``)."""
    from openkms.audit.digest_files import read_digest_files
    from openkms.audit.verify import ChainVerifier, ExternalCopy
    from openkms.crypto.signing import verify
    from openkms.storage.audit import digests as digest_store
    from openkms.storage.audit import trail

    # One snapshot: the head and the newest digest as they were together (digests the
    # server signs meanwhile are left for the next run, as are its records).
    with store.transaction(snapshot=True) as tx:
        head = trail.read_head(tx)
        newest = digest_store.last_digest(tx)
        keys = digest_store.signing_keys(tx)
        audited = digest_store.has_audited_state(tx)
    digests: Iterable[Digest] = _digests(store, 0 if newest is None else newest.number)
    copy = None
    if digests_from is not None:
        copied, copied_keys = read_digest_files(digests_from)
        keys = {**copied_keys, **keys}

        def newest_now() -> int:
            with store.transaction() as tx:
                found = digest_store.last_digest(tx)
            return 0 if found is None else found.number

        digests = copy = ExternalCopy(digests, copied, newest_now)
    verifier = ChainVerifier(digests, keys, verify, trusted=trusted)
    for event in _events(store, 0, head[0]):
        verifier.add(event)
    report = verifier.finish(head, now=now, audited_state=audited)
    if copy is None:
        return report
    return dataclasses.replace(report, external=copy.confirmed)


def _verify_database(args: argparse.Namespace, trusted: frozenset[str] | None) -> int:
    store = _open_read_only(args)
    try:
        now = time.time() if args.as_of is None else args.as_of
        report = check_store(store, now=now, trusted=trusted, digests_from=args.digests_from)
        print(report.summary())
    finally:
        store.close()
    return 0


def _seal(args: argparse.Namespace) -> int:
    from openkms.service.audit_sealer import seal_now

    store, keyring = _open_with_keyring(args)
    try:
        digest = seal_now(store, keyring)
    finally:
        store.close()
    assert digest is not None  # a manual seal is always due
    print(f"sealed records {digest.seq_from}..{digest.seq_to} (digest {digest.number})")
    return 0


def _rotate(args: argparse.Namespace) -> int:
    from openkms.service.audit_sealer import rotate_signing_key

    store, keyring = _open_with_keyring(args)
    try:
        rotation = rotate_signing_key(store, keyring, replace_lost=args.replace_lost_key)
    finally:
        store.close()
    number = rotation.digest.number if rotation.digest else "?"
    if rotation.old_fingerprint is None:
        print(
            f"new audit signing key SHA-256 {rotation.new_fingerprint} replaces a lost one "
            f"(digest {number}, not endorsed: verify with --expect-fingerprint "
            f"{rotation.new_fingerprint} and the old key's fingerprint)"
        )
    else:
        print(
            f"audit signing key rotated: SHA-256 {rotation.old_fingerprint} -> "
            f"{rotation.new_fingerprint} (endorsed by digest {number}, signed with the old key)"
        )
    return 0


def _export(args: argparse.Namespace) -> int:
    from openkms.audit.export import iter_segment_events, plan_segments, widen, write_segment
    from openkms.service.audit_sealer import seal_now
    from openkms.storage.audit import digests as digest_store
    from openkms.storage.audit import trail

    if args.seal:
        store, keyring = _open_with_keyring(args)
        try:
            seal_now(store, keyring)
        except BaseException:
            store.close()
            raise
    else:
        store = _open_read_only(args)
    try:
        check_store(store)
        with store.transaction() as tx:
            digests = digest_store.read_digests(tx)
            keys = digest_store.signing_keys(tx)
            public_key = digest_store.read_public_key(tx)
            found = trail.seq_range(tx, args.since, args.until)
        os.makedirs(args.out, exist_ok=True)
        if found is None:
            print("no records in that time range; nothing exported")
            return 0
        first, last = widen(found[0], found[1], digests)
        start_hash = next((d.last_hash for d in digests if d.seq_to == first - 1), None)
        if start_hash is None:
            from openkms.domain.audit import GENESIS

            start_hash = GENESIS
        segments = plan_segments(first, last, digests, start_hash)
        written = 0
        for segment in iter_segment_events(segments, _events(store, first - 1, last)):
            write_segment(args.out, segment, keys, public_key)
            written += len(segment.events)
            segment.events.clear()
    finally:
        store.close()
    print(
        f"exported {written} records (seq {first}..{last}) in {len(segments)} "
        f"digest segments to {args.out}"
    )
    return 0
