"""The usage rollup's tables, in the one schema (:data:`openkms.storage.tables.metadata`).

Derived data: everything here is recomputed from the audit trail when the rows are
deleted (the watermark back to 0), so they need no backup of their own.

``usage_daily``: successful requests per UTC day number, account (the caller's), Region,
key ARN (empty for requests naming none) and billing class
(:class:`openkms.domain.billing.BillingClass`), and per month in ``usage_monthly``.
``usage_keys``: each key's billable life
as the trail tells it. ``usage_rollup``: one row (id 1), the last audit seq counted.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
)

from openkms.storage.tables import metadata

usage_daily = Table(
    "usage_daily",
    metadata,
    Column("day", Integer, nullable=False, autoincrement=False),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("key_arn", String(2048), nullable=False),
    Column("billing_class", String(32), nullable=False),
    Column("requests", BigInteger, nullable=False),
    PrimaryKeyConstraint("day", "account_id", "region", "key_arn", "billing_class"),
)

#: The same counts per calendar month (``year * 12 + month - 1``): a report over whole
#: months reads one row per key and class, not one per day.
usage_monthly = Table(
    "usage_monthly",
    metadata,
    Column("month", Integer, nullable=False, autoincrement=False),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("key_arn", String(2048), nullable=False),
    Column("billing_class", String(32), nullable=False),
    Column("requests", BigInteger, nullable=False),
    PrimaryKeyConstraint("month", "account_id", "region", "key_arn", "billing_class"),
)

usage_keys = Table(
    "usage_keys",
    metadata,
    Column("key_arn", String(2048), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("key_spec", String(32), nullable=False),
    Column("key_manager", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("scheduled_at", Float),
    Column("deleted_at", Float),
    Column("rotations", Integer, nullable=False),
    Column("rotation1_at", Float),
    Column("rotation2_at", Float),
    Index("ix_usage_keys_account", "account_id"),
)

usage_rollup = Table(
    "usage_rollup",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("updated_at", Float, nullable=False),
)
