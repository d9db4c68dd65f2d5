"""The change log: one row for every write that changes whether a subject's tokens are good.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "changes",
        # SQLite: INTEGER PRIMARY KEY AUTOINCREMENT never hands out a number twice, even after
        # the newest row is deleted; PostgreSQL: a bigserial.
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer, nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("changes_at_idx", "changes", ["at"])


def downgrade() -> None:
    op.drop_table("changes")
