"""Migration 0006 on a trail an older OpenKMS wrote and sealed: its version 1 digests
still verify, its ``event_time`` columns become the records' whole seconds, and the
first start after the upgrade continues the digest chain with version 2 digests."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "audit"))

from audit_support import BASE_TIME, pending

from openkms.cli.audit import check_store
from openkms.crypto import contexts
from openkms.crypto.keyring import SoftwareKeyring, new_root_key
from openkms.crypto.signing import generate_signing_key, sign
from openkms.domain.audit import GENESIS, canonical_json, digest_message, link_hash
from openkms.service.audit_sealer import Sealer, prepare_signing_key
from openkms.storage import migrate
from openkms.storage.audit import digests as digest_store
from openkms.storage.engine import make_engine, sqlite_url
from openkms.storage.repository import Store


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield sqlite_url(str(tmp_path))
    else:
        cluster = request.getfixturevalue("postgres")
        yield cluster.create_database(f"migrate_0006_{uuid.uuid4().hex[:10]}")


def plain(url: str) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return create_engine(url)


def write_as_0005(url: str, keyring: SoftwareKeyring) -> None:
    """Six records (times with a fraction of a second, as 0005 stored them), sealed by
    two version 1 digests, with the signing key in openkms_meta."""
    private, public = generate_signing_key()
    engine = plain(url)
    try:
        with engine.begin() as conn:
            command.downgrade(migrate._config(conn), "0005")
        with engine.begin() as conn:
            prev, signature = GENESIS, None
            for i in range(1, 7):
                p = pending(i)
                body = canonical_json(p.record)
                digest = link_hash(prev, i, body)
                conn.execute(
                    text(
                        "INSERT INTO audit_events VALUES (:seq, :eid, :t, :a, 'us-east-1', "
                        "'kms.amazonaws.com', 'Encrypt', 'root', 'AKIAOPENKMSTESTROOT1', :ro, "
                        "NULL, :r, :p, :h)"
                    ),
                    {
                        "seq": i,
                        "eid": p.event_id,
                        "t": BASE_TIME + i + 0.37,
                        "a": p.account_id,
                        "ro": True,
                        "r": body.decode(),
                        "p": prev,
                        "h": digest,
                    },
                )
                conn.execute(
                    text("INSERT INTO audit_resources VALUES (:s, :n, 'AWS::KMS::Key')"),
                    {"s": i, "n": p.resources[0][0]},
                )
                prev = digest
                if i in (3, 6):
                    seq_from = i - 2
                    message = digest_message(seq_from, i, BASE_TIME + i, prev, signature)
                    new_signature = sign(private, message).hex()
                    conn.execute(
                        text("INSERT INTO audit_digests VALUES (:to, :fr, :t, :h, :p, :s, :t)"),
                        {
                            "to": i,
                            "fr": seq_from,
                            "t": BASE_TIME + i,
                            "h": prev,
                            "p": signature,
                            "s": new_signature,
                        },
                    )
                    signature = new_signature
            conn.execute(text("INSERT INTO audit_chain_head VALUES (1, 6, :h)"), {"h": prev})
            for name, value in (
                ("audit_signing_public_key", public),
                ("audit_signing_key", keyring.wrap(private, contexts.AUDIT_SIGNING_KEY)),
            ):
                conn.execute(
                    text("INSERT INTO openkms_meta VALUES (:n, :v)"), {"n": name, "v": value}
                )
    finally:
        engine.dispose()


def test_a_trail_sealed_before_0006_still_verifies_and_goes_on(database_url: str) -> None:
    keyring = SoftwareKeyring(new_root_key())
    make_engine(database_url).dispose()
    write_as_0005(database_url, keyring)
    store = Store(make_engine(database_url))  # upgrades to 0006
    try:
        report = check_store(store)
        assert (report.records, report.digests, report.sealed_to) == (6, 2, 6)
        with store.engine.connect() as conn:
            times = [t for (t,) in conn.execute(text("SELECT event_time FROM audit_events"))]
        assert times == [BASE_TIME + i for i in range(1, 7)]
        prepare_signing_key(store, keyring)  # the stored key, not a new one
        Sealer(store, keyring).start()
        with store.transaction() as tx:
            found = digest_store.read_digests(tx)
        assert [(d.number, d.version, d.kind) for d in found] == [
            (1, 1, "seal"),
            (2, 1, "seal"),
            (3, 2, "start"),
        ]
        assert len(set(check_store(store, now=time.time()).keys)) == 1
    finally:
        store.close()
