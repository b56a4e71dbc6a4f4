"""How fast due lifecycle work goes, next to CreateKey in the same run.

Each automatic rotation or deletion is one write transaction (lock the key row, check
it is still due, write, append a CloudTrail record, commit with fsync), as a CreateKey
request is. This measures, in one process and one run, per key:

* CreateKey + EnableKeyRotation through the dispatcher (the reference),
* an automatic rotation done by ``Maintenance.run``,
* a deletion done by ``Maintenance.run``,

and prints each as a ratio to CreateKey. Usage::

    .venv/bin/python bench/maintenance.py [--keys 300] [--database postgresql://...]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from openkms.crypto.keyring import SoftwareKeyring, new_root_key
from openkms.domain.principals import Principal
from openkms.server.bootstrap import append_audit_entries
from openkms.service.audit_trail import RequestTrail
from openkms.service.context import RequestContext
from openkms.service.kms.dispatch import KMSService
from openkms.service.maintenance import Maintenance
from openkms.storage.engine import make_engine, sqlite_url
from openkms.storage.repository import Store

ACCOUNT = "111122223333"
DAY = 86_400.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=300)
    parser.add_argument("--database", help="PostgreSQL URL (default: SQLite in a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or sqlite_url(tmp)
        store = Store(make_engine(url))
        keyring = SoftwareKeyring(new_root_key())
        service = KMSService(store, keyring, audit_appender=append_audit_entries)
        principal = Principal.root(ACCOUNT, "AKBENCH")

        def call(name: str, params: dict[str, object]) -> dict[str, object]:
            now = time.time()
            trail = RequestTrail("req", "kms.amazonaws.com", name, "us-east-1", "127.0.0.1",
                                 "bench", now, principal=principal, request=params)  # fmt: skip
            ctx = RequestContext("req", principal, "us-east-1", now)
            return service.dispatch(ctx, name, params, trail)

        start = time.perf_counter()
        ids = []
        for _ in range(args.keys):
            ids.append(call("CreateKey", {})["KeyMetadata"]["KeyId"])  # type: ignore[index]
        create = (time.perf_counter() - start) / args.keys
        for key_id in ids:
            call("EnableKeyRotation", {"KeyId": key_id, "RotationPeriodInDays": 90})
        maintenance = Maintenance(store, keyring)
        start = time.perf_counter()
        rotated = len(maintenance.run(time.time() + 91 * DAY).rotated)
        rotate = (time.perf_counter() - start) / max(rotated, 1)
        for key_id in ids:
            call("ScheduleKeyDeletion", {"KeyId": key_id, "PendingWindowInDays": 7})
        start = time.perf_counter()
        deleted = len(maintenance.run(time.time() + 8 * DAY).deleted)
        delete = (time.perf_counter() - start) / max(deleted, 1)
        start = time.perf_counter()
        maintenance.run(time.time() + 9 * DAY)
        idle = time.perf_counter() - start
        store.close()
    backend = "PostgreSQL" if args.database else "SQLite (file, WAL, synchronous=FULL)"
    print(f"{backend}, {args.keys} keys")
    print(f"{'work':<34}{'ms per key':>12}{'ratio to CreateKey':>20}")
    for label, value, count in (
        ("CreateKey (dispatch + audit)", create, args.keys),
        ("automatic rotation (maintenance)", rotate, rotated),
        ("deletion (maintenance)", delete, deleted),
    ):
        print(f"{label:<34}{value * 1000:>12.2f}{value / create:>20.2f}   (n={count})")
    print(f"a run with nothing due: {idle * 1000:.1f} ms")


if __name__ == "__main__":
    main()
