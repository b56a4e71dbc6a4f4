"""Key-policy principals bound to unique ids (issue 10, defect 9).

A table records, for each IAM user or role ARN a key policy names, the unique id it
meant when the policy was saved (:mod:`openkms.service.policy_principals`). Policies
saved before this revision are bound here to the users and roles that exist now, so
that deleting and re-creating one of them does not hand its access to the newcomer;
a principal that no longer exists stays unbound (it matches by ARN, as before).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import json
import re

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ENTITY_ARN = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):(user|role)/.+")


def _principal_arns(text: str) -> set[str]:
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return set()
    statements = document.get("Statement") if isinstance(document, dict) else None
    found: set[str] = set()
    for statement in statements if isinstance(statements, list) else [statements]:
        if not isinstance(statement, dict):
            continue
        for element in ("Principal", "NotPrincipal"):
            spec = statement.get(element)
            values = spec.get("AWS") if isinstance(spec, dict) else None
            for value in values if isinstance(values, list) else [values]:
                if isinstance(value, str) and _ENTITY_ARN.fullmatch(value):
                    found.add(value)
    return found


def upgrade() -> None:
    table = op.create_table(
        "kms_key_policy_principals",
        sa.Column("key_id", sa.String(64), primary_key=True),
        sa.Column("principal_arn", sa.String(2048), primary_key=True),
        sa.Column("unique_id", sa.String(128), nullable=False),
    )
    conn = op.get_bind()
    ids = {
        (account, arn): unique_id
        for account, arn, unique_id in conn.execute(
            sa.text(
                "SELECT account_id, arn, user_id FROM iam_users "
                "UNION ALL SELECT account_id, arn, role_id FROM iam_roles"
            )
        )
    }
    rows = []
    for key_id, policy in conn.execute(sa.text("SELECT key_id, policy FROM kms_keys")):
        for arn in sorted(_principal_arns(policy or "")):
            match = _ENTITY_ARN.fullmatch(arn)
            unique_id = ids.get((match.group(1), arn)) if match else None
            if unique_id is not None:
                rows.append({"key_id": key_id, "principal_arn": arn, "unique_id": unique_id})
    if rows:
        op.bulk_insert(table, rows)


def downgrade() -> None:
    op.drop_table("kms_key_policy_principals")
