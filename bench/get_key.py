"""How long ``keys.repository.get_key`` takes on the read path (once per Encrypt request).

One SQLite database in a temp dir with one key; reads it through a read-only unit of
work, as a cryptographic request does, and prints the best of several timeit repeats
(µs per call). Usage::

    .venv/bin/python bench/get_key.py [--number 20000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import tempfile
import timeit

from openkms.domain.keys import Key, KeyManager, KeySpec, KeyState, KeyUsage, Origin
from openkms.storage.engine import make_engine, sqlite_url
from openkms.storage.keys import repository as key_records
from openkms.storage.repository import Store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(make_engine(sqlite_url(tmp)))
        key = Key(
            key_id="1234abcd-12ab-34cd-56ef-1234567890ab",
            account="111122223333",
            region="us-east-1",
            spec=KeySpec.SYMMETRIC_DEFAULT,
            usage=KeyUsage.ENCRYPT_DECRYPT,
            origin=Origin.AWS_KMS,
            manager=KeyManager.CUSTOMER,
            state=KeyState.ENABLED,
            description="bench",
            policy="{}",
            created_at=1.0,
            current_version=1,
        )
        with store.transaction(write=True) as tx:
            key_records.insert_key(tx, key, None, {})
        with store.transaction() as tx:
            assert key_records.get_key(tx, key.key_id) == key
            times = timeit.repeat(
                lambda: key_records.get_key(tx, key.key_id), number=args.number, repeat=args.repeat
            )
        store.close()
    best = min(times) / args.number * 1e6
    median = sorted(times)[len(times) // 2] / args.number * 1e6
    print(f"get_key: best {best:.2f} µs, median {median:.2f} µs per call")


if __name__ == "__main__":
    main()
