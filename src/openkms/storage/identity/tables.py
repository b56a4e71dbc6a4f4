"""Tables of IAM identities and STS sessions, on the shared :data:`tables.metadata`.

Long-term access keys (account roots' and IAM users') stay in ``access_keys``; a user's
key has the user's ARN as ``principal_arn``. Secrets are stored only wrapped under the
root keyring (``wrapped_secret``); of a session token only its SHA-256 is kept.
User and role names are unique case-insensitively: ``name_key`` is the lower-cased
name. Tags are a JSON list of ``[key, value]`` pairs, so that authenticating a user's
request reads one row.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Index, Integer, LargeBinary, String, Table, Text

from openkms.storage.tables import metadata

accounts = Table(
    "iam_accounts",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("created_at", Float, nullable=False),
)

users = Table(
    "iam_users",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("name_key", String(64), primary_key=True),
    Column("user_name", String(64), nullable=False),
    Column("user_id", String(32), nullable=False, unique=True),
    Column("path", String(512), nullable=False),
    Column("arn", String(2048), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("tags", Text, nullable=False),
    Index("ix_iam_users_arn", "account_id", "arn"),
)

roles = Table(
    "iam_roles",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("name_key", String(64), primary_key=True),
    Column("role_name", String(64), nullable=False),
    Column("role_id", String(32), nullable=False, unique=True),
    Column("path", String(512), nullable=False),
    Column("arn", String(2048), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("trust_policy", Text, nullable=False),
    Column("description", Text),
    Column("max_session_duration", Integer, nullable=False),
    Column("tags", Text, nullable=False),
)

inline_policies = Table(
    "iam_inline_policies",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("owner_type", String(8), primary_key=True),  # "user" or "role"
    Column("owner_key", String(64), primary_key=True),  # the owner's name_key
    Column("policy_name", String(128), primary_key=True),
    Column("document", Text, nullable=False),
)

sessions = Table(
    "sts_sessions",
    metadata,
    Column("access_key_id", String(128), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("token_hash", String(64), nullable=False),
    Column("wrapped_secret", LargeBinary, nullable=False),
    Column("role_arn", String(2048), nullable=False),
    Column("role_id", String(32), nullable=False),
    Column("session_name", String(64), nullable=False),
    Column("source_arn", String(2048), nullable=False),
    Column("tags", Text, nullable=False),
    Column("session_policy", Text),
    Column("chained", Boolean, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Index("ix_sts_sessions_expiry", "expires_at"),
)

#: The IAM users and roles a key policy named when it was saved (CreateKey, PutKeyPolicy),
#: bound to their unique ids: the policy text stays the source of truth, this says which
#: principal each ARN in it meant (see :mod:`openkms.service.policy_principals`). Rows of
#: a deleted key are never read again (key ids are never reused).
key_policy_principals = Table(
    "kms_key_policy_principals",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("principal_arn", String(2048), primary_key=True),
    Column("unique_id", String(128), nullable=False),
)
