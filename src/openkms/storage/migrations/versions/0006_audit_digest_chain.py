"""Tamper evidence (issue 13): a numbered digest chain, the signing keys by fingerprint,
and ``audit_events.event_time`` derived exactly from each record's ``eventTime``.

* ``audit_digests`` is keyed by ``number`` (1, 2, ...) instead of ``seq_to``, so that an
  idle digest (an empty record range, signed on schedule) has a row of its own; it gains
  ``version`` (1: the digests signed before, kept verifiable; 2: from now on), ``kind``
  and the signing key's fingerprint (and, for a key rotation, its successor's).
* ``audit_signing_keys`` keeps every public key that signed a digest, so that a rotated
  key's digests stay verifiable; the current key is copied in from ``openkms_meta``.
* ``event_time`` becomes the record's whole-second ``eventTime`` (it held the request's
  time with its fraction of a second, which no hashed byte pins down).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import hashlib
import time

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_PUBLIC_KEY_META = "audit_signing_public_key"
_ISO_SECOND = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"


def _digests_v2(name: str) -> sa.Table:
    return op.create_table(
        name,
        sa.Column("number", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("seq_from", sa.BigInteger, nullable=False),
        sa.Column("seq_to", sa.BigInteger, nullable=False),
        sa.Column("end_time", sa.Float, nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.Column("previous_signature", sa.Text),
        sa.Column("signature", sa.Text, nullable=False),
        sa.Column("key_fingerprint", sa.String(64), nullable=False),
        sa.Column("next_key_fingerprint", sa.String(64)),
        sa.Column("created_at", sa.Float, nullable=False),
    )


def upgrade() -> None:
    conn = op.get_bind()
    row = conn.execute(
        sa.text("SELECT value FROM openkms_meta WHERE name = :n"), {"n": _PUBLIC_KEY_META}
    ).first()
    public_key = None if row is None else bytes(row[0])
    fingerprint = "" if public_key is None else hashlib.sha256(public_key).hexdigest()
    keys = op.create_table(
        "audit_signing_keys",
        sa.Column("fingerprint", sa.String(64), primary_key=True),
        sa.Column("public_key", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    if public_key is not None:
        op.bulk_insert(
            keys,
            [{"fingerprint": fingerprint, "public_key": public_key, "created_at": time.time()}],
        )
    new = _digests_v2("audit_digests_v2")
    old = conn.execute(
        sa.text(
            "SELECT seq_from, seq_to, end_time, last_hash, previous_signature, signature, "
            "created_at FROM audit_digests ORDER BY seq_to"
        )
    ).all()
    op.bulk_insert(
        new,
        [
            {
                "number": number,
                "version": 1,
                "kind": "seal",
                "seq_from": r[0],
                "seq_to": r[1],
                "end_time": r[2],
                "last_hash": r[3],
                "previous_signature": r[4],
                "signature": r[5],
                "key_fingerprint": fingerprint,
                "next_key_fingerprint": None,
                "created_at": r[6],
            }
            for number, r in enumerate(old, start=1)
        ],
    )
    op.drop_table("audit_digests")
    op.rename_table("audit_digests_v2", "audit_digests")
    if conn.dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE audit_digests RENAME CONSTRAINT audit_digests_v2_pkey "
            "TO audit_digests_pkey"
        )
        op.execute(
            "UPDATE audit_events SET event_time = extract(epoch from "
            "((record::json->>'eventTime')::timestamptz)) "
            f"WHERE (record::json->>'eventTime') ~ '{_ISO_SECOND}'"
        )
    else:
        op.execute(
            "UPDATE audit_events SET event_time = COALESCE(CAST(strftime('%s', "
            "json_extract(record, '$.eventTime')) AS REAL), event_time) WHERE json_valid(record)"
        )


def downgrade() -> None:
    conn = op.get_bind()
    old = op.create_table(
        "audit_digests_v1",
        sa.Column("seq_to", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("seq_from", sa.BigInteger, nullable=False),
        sa.Column("end_time", sa.Float, nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.Column("previous_signature", sa.Text),
        sa.Column("signature", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    # Version 2 digests mean nothing to the older code: only version 1 goes back.
    rows = conn.execute(
        sa.text(
            "SELECT seq_to, seq_from, end_time, last_hash, previous_signature, signature, "
            "created_at FROM audit_digests WHERE version = 1 ORDER BY number"
        )
    ).all()
    names = ("seq_to", "seq_from", "end_time", "last_hash", "previous_signature")
    op.bulk_insert(
        old,
        [dict(zip((*names, "signature", "created_at"), r, strict=True)) for r in rows],
    )
    op.drop_table("audit_digests")
    op.rename_table("audit_digests_v1", "audit_digests")
    if conn.dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE audit_digests RENAME CONSTRAINT audit_digests_v1_pkey "
            "TO audit_digests_pkey"
        )
    op.drop_table("audit_signing_keys")
