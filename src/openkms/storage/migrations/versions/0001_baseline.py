"""The schema of OpenKMS 0.1 (made by ``create_all``, before migrations existed).

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Databases of 0.1 are stamped here; new databases are created at the newest revision."""


def downgrade() -> None:
    """Nothing before the baseline."""
