#!/usr/bin/env python3
"""A large OpenKMS store, and its cryptographic req/s next to an empty store's.

Issue 12's scale row: a store holding 1,000,000 keys and 10,000,000 audit events must
serve Encrypt, Decrypt and GenerateDataKey at >= 0.9x the req/s of an empty one.

    # 1. build the store (SQLite in the data directory, or --database postgresql://...)
    .venv/bin/python bench/large_store.py build --data-dir /tmp/large [--keys N] [--events M]
    # 2. measure it next to an empty store, interleaved rounds
    .venv/bin/python bench/large_store.py compare --data-dir /tmp/large [--rounds 3]

``build`` makes the state the way ``openkms serve`` does (data directory, schema, root
key and its check value: :func:`openkms.server.bootstrap.open_state`), then loads it
through the storage layer in big transactions, not through HTTP:

* N symmetric keys (``SYMMETRIC_DEFAULT``, enabled, AWS's default key policy), each
  with its own backing key from :func:`openkms.service.kms.materials.new_material`
  wrapped under the root keyring with the key's own context, as CreateKey stores it,
  so every key is usable by the server; one key in ten has an alias;
* M CloudTrail records of Encrypt / Decrypt / GenerateDataKey calls (45/40/15 %, a few
  failed Decrypts) spread uniformly over the keys and over the last ``--days`` days,
  rendered by :func:`openkms.audit.records.cloudtrail_record` as the server renders
  them and appended by :func:`openkms.storage.audit.trail.append_records`, so the chain
  is the server's own; a signed digest seals every ``--seal-every`` records, and
  ``openkms audit verify`` passes on the result.

While loading, SQLite gets a large page cache (``--cache-mb``) and its write-ahead log is
checkpointed at the end; every transaction is as durable as the server's. A build that
fails half way leaves a store to throw away.

``compare`` starts ``openkms serve`` on the large store and on a fresh empty data
directory (``bench/compare_trees.py``'s ``_start``: 127.0.0.1, root credentials
test/test, default settings otherwise), picks a random alias-free key of the large store
and a new key of the empty one, and runs the shared load tool (``kmsbench.py``, wrk when
installed) per op in interleaved rounds (large, empty; empty, large; ...). It prints each
cell, then per op the median req/s and p99 of each side and the median of the per-round
ratios large/empty.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from openkms.audit.records import AuditedCall, cloudtrail_record
from openkms.crypto import contexts
from openkms.crypto.keyring import SoftwareKeyring
from openkms.crypto.signing import (
    AuditSigner,
    SigningKeyMissingError,
    create_audit_signer,
    load_audit_signer,
)
from openkms.domain import policy
from openkms.domain.aliases import Alias
from openkms.domain.audit import PendingRecord
from openkms.domain.keys import (
    Key,
    KeyManager,
    KeyMaterial,
    KeySpec,
    KeyState,
    KeyUsage,
    Origin,
)
from openkms.domain.principals import Principal
from openkms.server.bootstrap import Settings, open_state
from openkms.service.kms.materials import new_material
from openkms.storage import shared as shared_records
from openkms.storage.audit import digests as digest_store
from openkms.storage.audit import trail
from openkms.storage.keys import repository as key_records
from openkms.storage.repository import Store

HERE = Path(__file__).resolve().parent
DEFAULT_SHARED = HERE.parents[1] / "shared" / "bench"
DEFAULT_ACCOUNT = "111122223333"
REGION = "us-east-1"
#: The access key the records name (compare's servers use test/test as root credentials).
ACCESS_KEY = "test"
USER_AGENT = (
    "Boto3/1.35.0 md/Botocore#1.35.0 ua/2.0 os/linux#6.8.0 md/arch#x86_64 lang/python#3.11.7 "
    "md/pyimpl#CPython cfg/retry-mode#standard Botocore/1.35.0"
)
#: (operation, share of the events); a few Decrypts fail.
OPERATIONS = (("Encrypt", 0.45), ("Decrypt", 0.40), ("GenerateDataKey", 0.15))
FAILED_DECRYPT_SHARE = 0.005


# build ----------------------------------------------------------------------------------
def _tune_for_load(store: Store, cache_mb: int) -> None:
    """A page cache that holds the indexes being filled, on the SQLite connections opened
    from now on (the pooled ones are closed first). Durability stays as the server's
    (``synchronous=FULL``): with thousands of rows per transaction, fsync costs little."""
    from sqlalchemy import event

    engine = store.engine
    if engine.name != "sqlite":
        return
    engine.dispose()

    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA cache_size=-{cache_mb * 1024}")
        cur.execute("PRAGMA temp_store=MEMORY")
        cur.close()

    event.listen(engine, "connect", on_connect)


def _checkpoint(store: Store) -> None:
    """Move SQLite's write-ahead log into the database file, as a server does in time."""
    if store.engine.name != "sqlite":
        return
    raw: Any = store.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cur.close()
    finally:
        raw.close()


class Progress:
    def __init__(self, what: str, total: int) -> None:
        self.what, self.total, self.start = what, total, time.monotonic()
        self.last = self.start

    def update(self, done: int, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < 5:
            return
        self.last = now
        elapsed = now - self.start
        rate = done / elapsed if elapsed else 0.0
        eta = (self.total - done) / rate if rate else 0.0
        print(
            f"  {self.what}: {done:,}/{self.total:,}  {rate:,.0f}/s  "
            f"{elapsed:,.0f} s elapsed, {eta:,.0f} s to go",
            flush=True,
        )

    def rate(self, done: int) -> float:
        return done / max(time.monotonic() - self.start, 1e-9)


def load_keys(
    store: Store, keyring: SoftwareKeyring, account: str, count: int, start: float, span: float,
    batch: int,
) -> list[tuple[str, str]]:  # fmt: skip
    """``count`` usable symmetric keys created over ``[start, start + span)``; returns
    their ids and material ids in creation order. One key in ten gets the alias
    ``alias/large/<n>``."""
    key_policy = policy.default_policy(account)
    ids: list[tuple[str, str]] = []
    progress = Progress("keys", count)
    for first in range(0, count, batch):
        pairs: list[tuple[Key, KeyMaterial]] = []
        aliases: list[Alias] = []
        for n in range(first, min(first + batch, count)):
            key_id = str(uuid.uuid4())
            created = start + span * n / count
            key = Key(
                key_id=key_id,
                account=account,
                region=REGION,
                spec=KeySpec.SYMMETRIC_DEFAULT,
                usage=KeyUsage.ENCRYPT_DECRYPT,
                origin=Origin.AWS_KMS,
                manager=KeyManager.CUSTOMER,
                state=KeyState.ENABLED,
                description=f"large-store key {n}",
                policy=key_policy,
                created_at=created,
                current_version=1,
            )
            material = KeyMaterial(
                key_id=key_id,
                version=1,
                material_id=os.urandom(32).hex(),
                wrapped=keyring.wrap(
                    new_material(KeySpec.SYMMETRIC_DEFAULT), contexts.key_material(key_id, 1)
                ),
                created_at=created,
            )
            pairs.append((key, material))
            if n % 10 == 0:
                aliases.append(Alias(account, REGION, f"alias/large/{n}", key_id, created, created))
            ids.append((key_id, material.material_id))
        with store.transaction(write=True) as tx:
            key_records.insert_keys(tx, pairs)
            for alias in aliases:
                key_records.insert_alias(tx, alias)
        progress.update(len(ids))
    progress.update(len(ids), force=True)
    return ids


def _request(op: str, key_id: str, n: int, context: bool) -> dict[str, Any]:
    """The validated request members of one call, as the handler gets them (the record
    drops Plaintext and CiphertextBlob by name, as it does on the server)."""
    if op == "Encrypt":
        request: dict[str, Any] = {"KeyId": key_id, "Plaintext": b"x" * 32}
    elif op == "Decrypt":
        request = {"CiphertextBlob": b"x" * 180}
    else:
        request = {"KeyId": key_id, "KeySpec": "AES_256"}
    if context:
        request["EncryptionContext"] = {"tenant": f"tenant-{n % 97}", "purpose": "large-store"}
    return request


def _uuid4(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128) & _UUID_MASK | _UUID_V4:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_UUID_MASK = ~(0xF000 << 64 | 0xC000 << 48) & (2**128 - 1)
_UUID_V4 = 0x4000 << 64 | 0x8000 << 48


class _Renderer:
    """CloudTrail records of the bench's calls, as
    :func:`openkms.audit.records.cloudtrail_record` renders them, made fast: each kind of
    call (operation, with or without an encryption context, failed) is rendered once
    and then copied with the event's own time, ids, source address and key. Every
    ``check_every``-th record is also rendered in full and must be equal."""

    def __init__(self, account: str, check_every: int = 10_000) -> None:
        self.account = account
        self.principal = Principal.root(account, ACCESS_KEY)
        self.check_every = check_every
        self.templates: dict[tuple[str, bool, bool], dict[str, Any]] = {}
        self.rendered = 0

    def call(
        self, rng: random.Random, n: int, op: str, key: tuple[str, str], context: bool,
        failed: bool, when: float,
    ) -> AuditedCall:  # fmt: skip
        key_id, material_id = key
        # As the server records them: the material a successful Decrypt or
        # GenerateDataKey used (Encrypt's response does not name it).
        used = op != "Encrypt" and not failed
        arn = f"arn:aws:kms:{REGION}:{self.account}:key/{key_id}"
        return AuditedCall(
            request_id=_uuid4(rng),
            event_id=_uuid4(rng),
            event_time=when,
            event_source="kms.amazonaws.com",
            event_name=op,
            region=REGION,
            source_ip=f"10.0.{n % 7}.{n % 251}",
            user_agent=USER_AGENT,
            principal=self.principal,
            request=_request(op, key_id, n, context),
            response=None,
            error_code="InvalidCiphertextException" if failed else None,
            error_message="" if failed else None,
            resources=() if failed else ((self.account, arn),),
            additional={"keyMaterialId": material_id} if used else None,
        )

    def record(self, call: AuditedCall, context: bool) -> dict[str, Any]:
        kind = (call.event_name, context, call.error_code is not None)
        template = self.templates.get(kind)
        if template is None:
            template = self.templates[kind] = cloudtrail_record(call, self.account, None)
        record = dict(template)
        record["eventTime"] = _event_time(call.event_time)
        record["eventID"] = call.event_id
        record["requestID"] = call.request_id
        record["sourceIPAddress"] = call.source_ip
        parameters = template["requestParameters"]
        if parameters is not None:
            parameters = dict(parameters)
            if "keyId" in parameters:
                parameters["keyId"] = call.request["KeyId"]
            if "encryptionContext" in parameters:
                parameters["encryptionContext"] = dict(call.request["EncryptionContext"])
            record["requestParameters"] = parameters
        if call.additional:
            record["additionalEventData"] = dict(call.additional)
        if call.resources:
            record["resources"] = [{**template["resources"][0], "ARN": call.resources[0][1]}]
        if self.rendered % self.check_every == 0 and record != cloudtrail_record(
            call, self.account, None
        ):
            raise RuntimeError(f"record {self.rendered} differs from cloudtrail_record")
        self.rendered += 1
        return record


def _event_time(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def events(
    account: str,
    keys: list[tuple[str, str]],
    count: int,
    start: float,
    span: float,
    seed: int,
    check_every: int = 10_000,
) -> Iterator[PendingRecord]:
    """``count`` records in time order over ``[start, start + span)``."""
    rng = random.Random(seed)
    renderer = _Renderer(account, check_every)
    encrypt, decrypt = OPERATIONS[0][1], OPERATIONS[0][1] + OPERATIONS[1][1]
    failed_decrypt = FAILED_DECRYPT_SHARE / OPERATIONS[1][1]
    for n in range(count):
        draw = rng.random()
        op = "Encrypt" if draw < encrypt else "Decrypt" if draw < decrypt else "GenerateDataKey"
        failed = op == "Decrypt" and rng.random() < failed_decrypt
        key = keys[rng.randrange(len(keys))]
        context = rng.random() < 0.5
        when = start + span * n / count
        call = renderer.call(rng, n, op, key, context, failed, when)
        yield PendingRecord.from_record(renderer.record(call, context), event_time=when)


def load_events(
    store: Store, keyring: SoftwareKeyring, records: Iterator[PendingRecord], count: int,
    batch: int, seal_every: int,
) -> None:  # fmt: skip
    progress = Progress("events", count)
    done = since_seal = 0
    while done < count:
        chunk = [next(records) for _ in range(min(batch, count - done))]
        with store.transaction(write=True) as tx:
            trail.append_records(tx, chunk)
        done += len(chunk)
        since_seal += len(chunk)
        if since_seal >= seal_every or done == count:
            _seal(store, keyring, chunk[-1].event_time, "manual")
            since_seal = 0
        progress.update(done)
    progress.update(done, force=True)
    now = time.time()  # then what a server's start and clean stop leave
    _seal(store, keyring, now, "start")
    _seal(store, keyring, now, "stop")


def _seal(store: Store, keyring: SoftwareKeyring, now: float, kind: str) -> None:
    """A signed digest over the records since the last one, at the time of the newest
    (``manual``: the store is built faster than a server's schedule would seal it)."""
    with store.transaction(write=True) as tx:
        digest_store.seal_digest(tx, _signer(tx, keyring), now, kind=kind)


def _signer(tx: Any, keyring: SoftwareKeyring) -> AuditSigner:
    settings = shared_records.Settings(tx)
    try:
        return load_audit_signer(settings, keyring)
    except SigningKeyMissingError:  # the store's first digest: a first start makes it
        return create_audit_signer(settings, keyring)


def _size(args: argparse.Namespace) -> str:
    if args.database:
        return "(PostgreSQL: see pg_database_size)"
    total = sum(p.stat().st_size for p in Path(args.data_dir).iterdir() if p.is_file())
    return f"{total / 2**30:.2f} GiB"


def build(args: argparse.Namespace) -> int:
    settings = Settings(data_dir=args.data_dir, database=args.database, account_id=args.account)
    store, keyring = open_state(settings)
    try:
        with store.transaction() as tx:
            if key_records.list_keys(tx, args.account, REGION, None, 1):
                raise SystemExit(f"{args.data_dir or args.database} holds keys already")
        _tune_for_load(store, args.cache_mb)
        now = time.time()
        start = now - args.days * 86400
        began = time.monotonic()
        print(f"building {args.keys:,} keys and {args.events:,} events", flush=True)
        # Keys are created over the first half of the window, used over all of it.
        keys = load_keys(
            store, keyring, args.account, args.keys, start, args.days * 43200, args.batch
        )
        keys_done = time.monotonic()
        records = events(
            args.account, keys, args.events, start, now - start, args.seed, args.check_every
        )
        load_events(store, keyring, records, args.events, args.batch, args.seal_every)
        events_done = time.monotonic()
        _checkpoint(store)
    finally:
        store.close()
    finished = time.monotonic()
    key_s, event_s = keys_done - began, events_done - keys_done
    print(
        f"built in {finished - began:,.0f} s: keys {key_s:,.1f} s "
        f"({args.keys / max(key_s, 1e-9):,.0f}/s), events {event_s:,.1f} s "
        f"({args.events / max(event_s, 1e-9):,.0f}/s), checkpoint "
        f"{finished - events_done:,.1f} s; size on disk {_size(args)}",
        flush=True,
    )
    return 0


# compare --------------------------------------------------------------------------------
def pick_key(args: argparse.Namespace) -> str:
    """A random alias-free key of the large store (keys listed after a random id)."""
    settings = Settings(data_dir=args.data_dir, database=args.database, account_id=args.account)
    store, _ = open_state(settings, create=False)
    try:
        with store.transaction() as tx:
            for _ in range(100):
                found = key_records.list_keys(tx, args.account, REGION, str(uuid.uuid4()), 20)
                for key in found:
                    if not key_records.list_aliases(tx, args.account, REGION, key.key_id, None, 1):
                        return key.key_id
    finally:
        store.close()
    raise SystemExit("no alias-free key found in the large store")


def compare(args: argparse.Namespace) -> int:
    sys.path[:0] = [str(HERE), args.shared_bench]
    from compare_trees import _start
    from kmsbench import setup_target

    large_key = pick_key(args)
    storage = ["--database", args.database] if args.database else ["--data-dir", args.data_dir]
    serve = ["--account-id", args.account, *shlex.split(args.serve_flags)]
    empty = ["--database", args.empty_database] if args.database else []
    print(f"large store {args.data_dir or args.database} ({_size(args)}), key {large_key}")
    servers = {
        "large": _start(args.python, args.src, [*serve, *storage]),
        "empty": _start(args.python, args.src, [*serve, *empty]),
    }
    try:
        empty_key = setup_target(f"http://127.0.0.1:{servers['empty'][1]}", "yes").sym_key
        keys = {"large": large_key, "empty": empty_key}
        cells: dict[tuple[str, str], list[dict[str, Any]]] = {}
        if args.warmup > 0:  # not recorded: first touches of the key, caches, the page cache
            for op in args.ops.split(","):
                for side in ("large", "empty"):
                    _measure(args, servers[side][1], op, keys[side], args.warmup)
        for r in range(args.rounds):
            for op in args.ops.split(","):
                for side in ("large", "empty") if r % 2 == 0 else ("empty", "large"):
                    time.sleep(0.5)
                    cell = _measure(args, servers[side][1], op, keys[side], args.duration)
                    cells.setdefault((op, side), []).append(cell)
                    print(
                        f"round {r} {op:>16} {side:>5}: {cell['rps']:8.1f} req/s  "
                        f"p50 {cell['p50_ms']} ms  p99 {cell['p99_ms']} ms  "
                        f"errors {cell['errors']}",
                        flush=True,
                    )
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(timeout=30)
    print(f"{'op':<16} {'large req/s':>12} {'empty req/s':>12} {'ratio':>6} "
          f"{'large p99':>10} {'empty p99':>10}")  # fmt: skip
    summary = {}
    for op in args.ops.split(","):
        large, empty = cells[op, "large"], cells[op, "empty"]
        ratio = statistics.median(a["rps"] / b["rps"] for a, b in zip(large, empty, strict=True))
        summary[op] = {
            "large_rps": statistics.median(c["rps"] for c in large),
            "empty_rps": statistics.median(c["rps"] for c in empty),
            "ratio": ratio,
            "large_p99_ms": statistics.median(c["p99_ms"] for c in large),
            "empty_p99_ms": statistics.median(c["p99_ms"] for c in empty),
        }
        print(
            f"{op:<16} {summary[op]['large_rps']:>12,.0f} {summary[op]['empty_rps']:>12,.0f} "
            f"{ratio:>6.2f} {summary[op]['large_p99_ms']:>10.2f} "
            f"{summary[op]['empty_p99_ms']:>10.2f}"
        )
    args.out_dir.mkdir(parents=True, exist_ok=True)
    out = args.out_dir / f"large-store-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    raw = {f"{op} {side}": values for (op, side), values in cells.items()}
    out.write_text(json.dumps({"store": _size(args), "summary": summary, "cells": raw}, indent=1))
    print(f"written to {out}")
    return 0


def _measure(
    args: argparse.Namespace, port: int, op: str, key_id: str, duration: float
) -> dict[str, Any]:
    done = subprocess.run(
        [
            args.python,
            os.path.join(args.shared_bench, "kmsbench.py"),
            "--endpoint",
            f"http://127.0.0.1:{port}",
            "--op",
            op,
            "--duration",
            str(duration),
            "--connections",
            str(args.connections),
            "--client",
            args.client,
            "--setup",
            "yes",
            "--key-id",
            key_id,
            "--ecc-key-id",  # no Sign here: keeps kmsbench from creating an ECC key
            key_id,
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    cell: dict[str, Any] = json.loads(done.stdout)[op]
    return cell


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    commands = ap.add_subparsers(dest="command", required=True)
    b = commands.add_parser("build", help="build a large store")
    c = commands.add_parser("compare", help="req/s of the large store next to an empty one")
    for p in (b, c):
        p.add_argument("--data-dir", required=True, help="data directory (root key, SQLite)")
        p.add_argument("--database", help="PostgreSQL URL instead of SQLite in the data dir")
        p.add_argument("--account", default=DEFAULT_ACCOUNT, help="account id of the keys")
    b.add_argument("--keys", type=int, default=1_000_000)
    b.add_argument("--events", type=int, default=10_000_000)
    b.add_argument("--batch", type=int, default=20_000, help="rows per transaction")
    b.add_argument("--seal-every", type=int, default=500_000, help="records per digest")
    b.add_argument("--days", type=float, default=90, help="time span of keys and events")
    b.add_argument("--seed", type=int, default=12, help="random seed of the events")
    b.add_argument(
        "--check-every", type=int, default=10_000, help="render every Nth record in full too"
    )
    b.add_argument("--cache-mb", type=int, default=2048, help="SQLite page cache while loading")
    c.add_argument("--ops", default="Encrypt,Decrypt,GenerateDataKey")
    c.add_argument("--rounds", type=int, default=3)
    c.add_argument("--duration", type=float, default=5)
    c.add_argument("--warmup", type=float, default=1, help="seconds per op and side first")
    c.add_argument("--connections", type=int, default=16)
    c.add_argument("--out-dir", type=Path, default=HERE / "results")
    c.add_argument("--client", default="auto", choices=["auto", "wrk", "python"])
    c.add_argument("--python", default=sys.executable)
    c.add_argument("--src", default=str(HERE.parent / "src"), help="source tree to serve")
    c.add_argument("--shared-bench", default=str(DEFAULT_SHARED))
    c.add_argument("--serve-flags", default="", help='extra serve flags, e.g. "--workers 2"')
    c.add_argument("--empty-database", help="with --database: an empty PostgreSQL database")
    args = ap.parse_args()
    if args.command == "compare" and bool(args.database) != bool(args.empty_database):
        ap.error("--database and --empty-database go together")
    if args.command == "build" and (args.keys < 1 or args.events < 0):
        ap.error("--keys must be at least 1 and --events not negative")
    return build(args) if args.command == "build" else compare(args)


if __name__ == "__main__":
    sys.exit(main())
