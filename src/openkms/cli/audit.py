"""``openkms audit``: verify, seal and export the tamper-evident audit trail.

    openkms audit verify [--data-dir DIR | --database URL]   the stored trail (read-only)
    openkms audit verify EXPORT_DIR                          an export, offline
    openkms audit seal [--data-dir DIR | --database URL]     sign a digest now
    openkms audit export --out DIR [--since T] [--until T] [--seal]
                         [--data-dir DIR | --database URL]

``verify`` exits 0 with a one-line summary on an intact trail, and 1 naming the first
bad record otherwise; it needs neither the root key nor a server (the digests are
checked with the stored, or exported, public key: compare its fingerprint out of band).
``seal`` and ``export --seal`` need the root key, as ``openkms serve`` does. ``export``
refuses a trail that does not verify. None of them creates state: a data directory,
database or root key that is not there is refused with one line (exit statuses in
openkms.cli.exit_codes). T is ISO-8601 (``2025-05-20T20:45:00Z``; a time
without a zone is UTC).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from openkms.audit.verify import VerifyReport
    from openkms.cli.parsing import Commands
    from openkms.crypto.keyring import SoftwareKeyring
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
    seal = actions.add_parser("seal", help="sign a digest over the records not yet sealed")
    _storage_options(seal)
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
    from openkms.storage.repository import StorageError

    try:
        if args.audit_command == "verify" and args.export_dir is not None:
            return _verify_export(args.export_dir)
        if args.audit_command == "verify":
            return _verify_database(args)
        if args.audit_command == "seal":
            return _seal(args)
        return _export(args)
    except AuditIntegrityError as exc:
        return fail(f"audit trail verification failed: {exc}", Exit.NEGATIVE)
    except StartupError as exc:
        return startup_failure(exc)
    except StorageError as exc:
        return fail(f"database error: {exc}", Exit.DATABASE)


def _verify_export(directory: str) -> int:
    from openkms.audit.export import verify_export
    from openkms.crypto.signing import verify

    if not os.path.isdir(directory):
        from openkms.cli.exit_codes import Exit, fail

        return fail(f"{directory} is not a directory", Exit.MISSING_STATE)
    print(verify_export(directory, verify).summary().replace("audit trail", "export", 1))
    return 0


def _open_read_only(args: argparse.Namespace) -> Store:
    """The store alone (no root key; nothing created)."""
    from openkms.cli.admin import cli_settings
    from openkms.server.bootstrap import open_store

    return open_store(cli_settings(args), create=False)


def _open_with_keyring(args: argparse.Namespace) -> tuple[Store, SoftwareKeyring]:
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


def check_store(store: Store) -> VerifyReport:
    """Verify the stored trail up to the head read at the start (records appended
    meanwhile are left for the next run); returns the report."""
    from openkms.audit.verify import ChainVerifier
    from openkms.crypto.signing import verify
    from openkms.storage.audit import trail

    with store.transaction() as tx:
        digests = trail.read_digests(tx)
        public_key = trail.read_public_key(tx)
        head = trail.read_head(tx)
    verifier = ChainVerifier(digests, public_key, verify)
    for event in _events(store, 0, head[0]):
        verifier.add(event)
    return verifier.finish(head)


def _verify_database(args: argparse.Namespace) -> int:
    store = _open_read_only(args)
    try:
        print(check_store(store).summary())
    finally:
        store.close()
    return 0


def _seal_now(store: Store, keyring: SoftwareKeyring) -> Digest | None:
    from openkms.crypto.signing import load_audit_signer
    from openkms.storage import shared as shared_records
    from openkms.storage.audit import trail

    with store.transaction(write=True) as tx:
        return trail.seal_digest(
            tx, load_audit_signer(shared_records.Settings(tx), keyring), time.time()
        )


def _seal(args: argparse.Namespace) -> int:
    store, keyring = _open_with_keyring(args)
    try:
        digest = _seal_now(store, keyring)
    finally:
        store.close()
    if digest is None:
        print("nothing to seal: every record is covered by a digest")
    else:
        print(f"sealed records {digest.seq_from}..{digest.seq_to}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from openkms.audit.export import iter_segment_events, plan_segments, widen, write_segment
    from openkms.storage.audit import trail

    if args.seal:
        store, keyring = _open_with_keyring(args)
        try:
            _seal_now(store, keyring)
        except BaseException:
            store.close()
            raise
    else:
        store = _open_read_only(args)
    try:
        check_store(store)
        with store.transaction() as tx:
            digests = trail.read_digests(tx)
            public_key = trail.read_public_key(tx)
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
            write_segment(args.out, segment, public_key)
            written += len(segment.events)
            segment.events.clear()
    finally:
        store.close()
    print(
        f"exported {written} records (seq {first}..{last}) in {len(segments)} "
        f"digest segments to {args.out}"
    )
    return 0
