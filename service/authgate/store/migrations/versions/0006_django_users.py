"""Users imported from Django: each one's Django primary key (`authgate users import-django`).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "django_users",
        sa.Column("django_pk", sa.String(64), primary_key=True),
        sa.Column(
            "user_id", sa.String(26), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        # The user's token version at import: simplejwt tokens are good while it is current.
        sa.Column("token_version", sa.Integer, nullable=False),
        # The work of the Django hash still stored (PBKDF2-SHA256 iterations); NULL once the
        # first login has rehashed it to argon2id.
        sa.Column("legacy_cost", sa.Integer, nullable=True),
    )
    op.create_index("django_users_user_key", "django_users", ["user_id"], unique=True)
    op.create_index("django_users_legacy_cost_idx", "django_users", ["legacy_cost"])


def downgrade() -> None:
    op.drop_table("django_users")
