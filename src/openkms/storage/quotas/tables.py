"""The request quota overrides table, in the one schema
(:data:`openkms.storage.tables.metadata`).

One row per (account, quota): the rate, in requests per second, that replaces AWS's
default (:mod:`openkms.domain.quotas`) for that account in every Region. The account
``*`` sets the rate for every account that has no row of its own.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, String, Table

from openkms.storage.tables import metadata

quota_overrides = Table(
    "kms_quota_overrides",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("quota", String(64), primary_key=True),
    Column("rate", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)
