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
    data_dir = str(tmp_path_factory.mktemp(f"data-{request.param}"))
    database = None
    if request.param == "postgres":
        cluster = request.getfixturevalue("postgres")
        database = cluster.create_database("openkms_suite")
    proc = ServerProcess.start(
        data_dir=data_dir,
        database=database,
        account=ACCOUNT,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
    )
    try:
        yield proc
    finally:
        proc.stop()


def make_client(
    endpoint: str,
    region: str = REGION,
    access_key: str = ACCESS_KEY,
    secret_key: str = SECRET_KEY,
    service: str = "kms",
) -> object:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(retries={"max_attempts": 1}),
    )


@pytest.fixture()
def kms(server: ServerProcess) -> object:
    return make_client(server.endpoint)
