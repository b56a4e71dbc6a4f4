"""Schema migrations: a database of an older OpenKMS is upgraded at start, keeps its keys,
and ends with exactly the schema a new database gets; newer databases are refused."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, text

from openkms.crypto.keyring import SoftwareKeyring, new_root_key
from openkms.domain.principals import Principal
from openkms.service.context import RequestContext
from openkms.service.kms.dispatch import KMSService
from openkms.storage import migrate
from openkms.storage.engine import StorageConfigError, make_engine, sqlite_url
from openkms.storage.repository import Store

ACCOUNT = "111122223333"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield sqlite_url(str(tmp_path))
    else:
        cluster = request.getfixturevalue("postgres")
        yield cluster.create_database(f"openkms_migrate_{time.monotonic_ns() % 10**9}")


def plain_engine(url: str) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return create_engine(url)


def schema_differences(url: str) -> list[object]:
    engine = plain_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, migrate.schema_metadata()))
    finally:
        engine.dispose()


def make_version_one(url: str) -> None:
    """What OpenKMS 0.1 left behind: its schema, no ``alembic_version`` table."""
    engine = plain_engine(url)
    try:
        with engine.begin() as conn:
            config = migrate._config(conn)
            command.downgrade(config, migrate.BASELINE)
            conn.execute(text("DROP TABLE alembic_version"))
    finally:
        engine.dispose()


def ctx() -> RequestContext:
    return RequestContext("req", Principal.root(ACCOUNT, "AK"), "us-east-1", time.time())


def test_a_new_database_has_exactly_the_defined_schema(database_url) -> None:
    make_engine(database_url).dispose()
    assert schema_differences(database_url) == []


def test_an_old_database_is_upgraded_and_keeps_its_keys(database_url) -> None:
    keyring = SoftwareKeyring(new_root_key())
    store = Store(make_engine(database_url))
    service = KMSService(store, keyring)
    key_id = service.dispatch(ctx(), "CreateKey", {})["KeyMetadata"]["KeyId"]
    plaintext = base64.b64encode(b"made before the upgrade").decode()
    blob = service.dispatch(ctx(), "Encrypt", {"KeyId": key_id, "Plaintext": plaintext})
    store.close()

    make_version_one(database_url)
    assert schema_differences(database_url) != []  # really the old schema

    store = Store(make_engine(database_url))
    try:
        assert schema_differences(database_url) == []
        service = KMSService(store, keyring)
        opened = service.dispatch(
            ctx(), "Decrypt", {"CiphertextBlob": base64.b64encode(blob["CiphertextBlob"]).decode()}
        )
        assert opened["Plaintext"] == b"made before the upgrade"
        service.dispatch(ctx(), "EnableKeyRotation", {"KeyId": key_id})
        status = service.dispatch(ctx(), "GetKeyRotationStatus", {"KeyId": key_id})
        assert status["KeyRotationEnabled"] is True
    finally:
        store.close()
    make_engine(database_url).dispose()  # a second start changes nothing
    assert schema_differences(database_url) == []


def test_a_database_of_a_newer_openkms_is_refused(database_url) -> None:
    make_engine(database_url).dispose()
    engine = plain_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))
    engine.dispose()
    with pytest.raises(StorageConfigError, match="schema revision f00d.*newer OpenKMS"):
        make_engine(database_url)


def test_nodes_starting_together_create_the_schema_once(database_url) -> None:
    errors: list[BaseException] = []

    def start() -> None:
        try:
            make_engine(database_url).dispose()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    engine = plain_engine(database_url)
    with engine.connect() as conn:
        revisions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    engine.dispose()
    assert revisions == [(migrate.head_revision(),)]
