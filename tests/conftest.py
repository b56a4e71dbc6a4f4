"""Shared fixtures: real server processes on loopback, on SQLite and on PostgreSQL.

Every test that takes ``kms`` (or ``server``) runs once per storage backend. The
PostgreSQL backend uses a throwaway cluster made with Debian's ``initdb``/``pg_ctl``;
when ``OPENKMS_REQUIRE_POSTGRES=1`` (the test command sets it) a missing PostgreSQL
fails the run instead of skipping.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "support"))

from servers import PostgresCluster, ServerProcess, free_port

ACCOUNT = "111122223333"
ACCESS_KEY = "AKIAOPENKMSTESTROOT1"
SECRET_KEY = "openkms-test-secret-key-0123456789abcdefgh"
REGION = "us-east-1"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    try:
        cluster = PostgresCluster.create(free_port())
    except FileNotFoundError as exc:
        if os.environ.get("OPENKMS_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required but not available: {exc}")
        pytest.skip(f"PostgreSQL not available: {exc}")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    yield from _start_server(request, tmp_path_factory, "suite", [])


def make_client(
    endpoint: str,
    region: str = REGION,
    access_key: str = ACCESS_KEY,
    secret_key: str = SECRET_KEY,
    service: str = "kms",
) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(retries={"max_attempts": 1}),
    )


@pytest.fixture()
def kms(server: ServerProcess) -> Any:
    return make_client(server.endpoint)


def _start_server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    extra_args: list[str],
) -> Iterator[ServerProcess]:
    """A server process on ``request.param``'s backend, with its own data directory (and
    database), stopped when the fixture ends."""
    data_dir = str(tmp_path_factory.mktemp(f"{name}-{request.param}"))
    database = None
    if request.param == "postgres":
        cluster = request.getfixturevalue("postgres")
        database = cluster.create_database(f"openkms_{name}")
    proc = ServerProcess.start(
        data_dir=data_dir,
        database=database,
        account=ACCOUNT,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        extra_args=extra_args,
    )
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def own_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server (and database) for one test module alone, for tests that move through
    time with ``openkms maintenance run --at``: that changes every key in the database.
    Its in-server maintenance runs as usual (every 60 s, and right after RotateKeyOnDemand)."""
    yield from _start_server(request, tmp_path_factory, f"own_{free_port()}", [])


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def quiet_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """Like ``own_server``, with in-server maintenance off (``--maintenance-interval 0``):
    nothing happens until the test runs ``maintenance_run`` (an on-demand rotation stays
    in progress until then)."""
    extra = ["--maintenance-interval", "0"]
    yield from _start_server(request, tmp_path_factory, f"quiet_{free_port()}", extra)
