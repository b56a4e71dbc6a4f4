"""Migration 0003: key policies saved before it are bound to the users and roles that
exist when the database is upgraded (issue 10, defect 9)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, text

from openkms.crypto.keyring import SoftwareKeyring, new_root_key
from openkms.domain.identities import User
from openkms.domain.principals import Principal
from openkms.service.context import RequestContext
from openkms.service.kms.dispatch import KMSService
from openkms.storage import migrate
from openkms.storage.engine import make_engine, sqlite_url
from openkms.storage.identity import repository as records
from openkms.storage.identity.bindings import bindings_of
from openkms.storage.repository import Store

ACCOUNT = "111122223333"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield sqlite_url(str(tmp_path))
    else:
        cluster = request.getfixturevalue("postgres")
        yield cluster.create_database(f"openkms_bind_{time.monotonic_ns() % 10**9}")


def plain_engine(url: str) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return create_engine(url)


def test_upgrade_binds_existing_key_policies(database_url) -> None:
    url = database_url
    store = Store(make_engine(url))
    alice = User(ACCOUNT, "alice", "AIDAEXAMPLEALICE0001", "/", time.time())
    with store.transaction(write=True) as tx:
        records.insert_user(tx, alice)
    root = RequestContext("req", Principal.root(ACCOUNT, "AK"), "us-east-1", time.time())
    gone = f"arn:aws:iam::{ACCOUNT}:user/gone"
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": [alice.arn, gone]},
                    "Action": "kms:Encrypt",
                    "Resource": "*",
                },
            ],
        }
    )
    service = KMSService(store, SoftwareKeyring(new_root_key()))
    key_id = service.dispatch(root, "CreateKey", {})["KeyMetadata"]["KeyId"]
    store.close()

    # As a 0002 database left it: no bindings table; the policy was saved back then.
    engine = plain_engine(url)
    with engine.begin() as conn:
        command.downgrade(migrate._config(conn), "0002")
        conn.execute(
            text("UPDATE kms_keys SET policy = :p WHERE key_id = :k"), {"p": policy, "k": key_id}
        )
    engine.dispose()

    store = Store(make_engine(url))  # upgrades to head
    try:
        with store.transaction() as tx:
            assert bindings_of(tx, key_id) == {alice.arn: alice.user_id}
    finally:
        store.close()
