"""A node frozen inside a write transaction stalls the other nodes for a bounded time
only (issue 13, item 8).

Every audited call on every node appends to one chain, under a row lock on
``audit_chain_head``. A node stopped (SIGSTOP, a VM pause, a GC pause of its host) while
its transaction holds that lock used to hold up every audited call on every node for as
long as it stayed frozen. Now each node's sessions carry ``lock_timeout`` (a call waits
that long at most and is answered KMSInternalException) and
``idle_in_transaction_session_timeout`` (PostgreSQL ends the frozen node's session, which
releases the lock).

The freeze is made deterministic with PostgreSQL's own locks: the test holds a table lock
on ``audit_resources`` so that node A's audit writer stops inside its transaction, after
it has locked the chain head; then node A's processes are stopped (SIGSTOP) and the table
lock released, leaving A's session idle in its transaction, holding the chain head, with
nobody to finish it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from servers import PostgresCluster, ServerProcess

from conftest import ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY

ROOT_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#: Node B waits this long for a lock (seconds); node A's frozen session is ended after
#: ``_IDLE`` seconds idle in its transaction: the first call on B must time out first.
_LOCK = "1"
_IDLE = "8"
#: A call that hangs longer than this failed the test (the bug: it hung for the freeze).
_READ_TIMEOUT = 30


def client(server: ServerProcess) -> Any:
    return boto3.client(
        "kms",
        endpoint_url=server.endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(retries={"total_max_attempts": 1}, read_timeout=_READ_TIMEOUT),
    )


@pytest.fixture()
def nodes(postgres: PostgresCluster, tmp_path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    database = postgres.create_database(f"frozen_{uuid.uuid4().hex[:10]}")
    started: list[ServerProcess] = []
    try:
        for name, env in (
            ("a", {"OPENKMS_DB_IDLE_IN_TRANSACTION_TIMEOUT": _IDLE}),
            ("b", {"OPENKMS_DB_LOCK_TIMEOUT": _LOCK}),
        ):
            data_dir = tmp_path / name
            data_dir.mkdir()
            started.append(
                ServerProcess.start(
                    data_dir=str(data_dir),
                    database=database,
                    account=ACCOUNT,
                    access_key=ACCESS_KEY,
                    secret_key=SECRET_KEY,
                    extra_env={"OPENKMS_ROOT_KEY": ROOT_KEY, **env},
                )
            )
        yield started[0], started[1]
    finally:
        for node in started:
            signal_all(node, signal.SIGCONT)
            node.stop()


def process_tree(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [pid] + [p for child in found.stdout.split() for p in process_tree(int(child))]


def signal_all(node: ServerProcess, sig: int) -> None:
    for pid in process_tree(node.proc.pid):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def outcome(call: Any, **kwargs: Any) -> str:
    try:
        call(**kwargs)
    except ClientError as err:
        return str(err.response["Error"]["Code"])
    return "ok"


def wait_for(conn: Any, sql: str, *args: object, timeout: float = 30) -> Any:
    """The first row of ``sql``, polled until there is one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = conn.execute(sql, args).fetchone()
        if row is not None:
            return row
        time.sleep(0.02)
    raise AssertionError(f"nothing matched within {timeout}s: {sql}")


def test_a_node_frozen_in_the_chain_transaction_stalls_the_others_boundedly(
    nodes, postgres: PostgresCluster
) -> None:
    import psycopg

    a, b = nodes
    kms_a, kms_b = client(a), client(b)
    key = kms_a.create_key()["KeyMetadata"]["KeyId"]
    assert outcome(kms_b.encrypt, KeyId=key, Plaintext=b"warm") == "ok"
    url = b.database
    assert url is not None
    with (
        psycopg.connect(url, autocommit=True) as watcher,
        psycopg.connect(url) as blocker,
        ThreadPoolExecutor(1) as pool,
    ):
        blocker.execute("LOCK TABLE audit_resources IN SHARE MODE")  # stops inserts
        frozen_call = pool.submit(outcome, kms_a.encrypt, KeyId=key, Plaintext=b"frozen")
        (backend,) = wait_for(
            watcher,
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query ILIKE 'INSERT INTO audit_resources%%'",
        )
        signal_all(a, signal.SIGSTOP)  # node A: frozen inside its transaction
        blocker.rollback()
        wait_for(
            watcher,
            "SELECT 1 FROM pg_stat_activity WHERE pid = %s AND state = 'idle in transaction'",
            backend,
        )
        # A holds the chain head and will never finish: B's audited calls wait for the
        # lock at most --db-lock-timeout, and are answered KMSInternalException.
        started = time.monotonic()
        assert outcome(kms_b.encrypt, KeyId=key, Plaintext=b"b") == "KMSInternalException"
        assert outcome(kms_b.create_key) == "KMSInternalException"
        first = time.monotonic() - started
        # PostgreSQL ends A's session after --db-idle-in-transaction-timeout: the chain is
        # free again while A is still frozen.
        while outcome(kms_b.encrypt, KeyId=key, Plaintext=b"b") != "ok":
            assert time.monotonic() - started < 120, "node B never recovered"
        recovered = time.monotonic() - started
        assert watcher.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (backend,)
        ).fetchone() == (0,)
        print(
            f"\nfrozen node: B's two calls failed after {first:.2f}s; B recovered {recovered:.2f}s"
        )
        signal_all(a, signal.SIGCONT)
        # A's writer lost its session: the frozen call fails closed, and A goes on.
        assert frozen_call.result(timeout=60) == "KMSInternalException"
    assert outcome(kms_a.encrypt, KeyId=key, Plaintext=b"after") == "ok"
