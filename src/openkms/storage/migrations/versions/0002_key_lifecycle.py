"""Key lifecycle: rotation settings on keys, per-version material facts, import tokens.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("kms_keys") as keys:
        keys.add_column(
            sa.Column("rotation_enabled", sa.Boolean, nullable=False, server_default=sa.false())
        )
        keys.add_column(sa.Column("rotation_period_days", sa.Integer))
        keys.add_column(sa.Column("next_rotation_date", sa.Float))
        keys.add_column(sa.Column("on_demand_rotation_started", sa.Float))
        keys.create_index("ix_kms_keys_deletion", ["deletion_date"])
        keys.create_index("ix_kms_keys_rotation", ["next_rotation_date"])
        keys.create_index("ix_kms_keys_on_demand", ["on_demand_rotation_started"])
    with op.batch_alter_table("kms_key_materials") as materials:
        materials.alter_column("wrapped_material", existing_type=sa.LargeBinary, nullable=True)
        materials.add_column(sa.Column("rotation_type", sa.String(16)))
        materials.add_column(sa.Column("rotated_at", sa.Float))
        materials.add_column(sa.Column("expiration_model", sa.String(32)))
        materials.add_column(sa.Column("valid_to", sa.Float))
        materials.add_column(sa.Column("description", sa.String(256)))
        materials.add_column(sa.Column("imported_at", sa.Float))
        materials.create_index("ix_kms_key_materials_valid_to", ["valid_to"])
    op.create_table(
        "kms_import_tokens",
        sa.Column("token_id", sa.String(64), primary_key=True),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("wrapping_algorithm", sa.String(32), nullable=False),
        sa.Column("wrapping_key_spec", sa.String(16), nullable=False),
        sa.Column("wrapped_private_key", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("valid_to", sa.Float, nullable=False),
    )
    op.create_index("ix_kms_import_tokens_valid_to", "kms_import_tokens", ["valid_to"])
    op.create_index("ix_kms_import_tokens_key", "kms_import_tokens", ["key_id"])


def downgrade() -> None:
    op.drop_table("kms_import_tokens")
    # Imported material that was deleted has no bytes; 0.1 has no such state.
    op.execute("DELETE FROM kms_key_materials WHERE wrapped_material IS NULL")
    with op.batch_alter_table("kms_key_materials") as materials:
        materials.drop_index("ix_kms_key_materials_valid_to")
        for name in (
            "imported_at",
            "description",
            "valid_to",
            "expiration_model",
            "rotated_at",
            "rotation_type",
        ):
            materials.drop_column(name)
        materials.alter_column("wrapped_material", existing_type=sa.LargeBinary, nullable=False)
    with op.batch_alter_table("kms_keys") as keys:
        for index in ("ix_kms_keys_on_demand", "ix_kms_keys_rotation", "ix_kms_keys_deletion"):
            keys.drop_index(index)
        for name in (
            "on_demand_rotation_started",
            "next_rotation_date",
            "rotation_period_days",
            "rotation_enabled",
        ):
            keys.drop_column(name)
