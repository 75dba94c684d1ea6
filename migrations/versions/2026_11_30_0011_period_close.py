"""period close

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 16:20:00+00:00

Closed accounting periods (SPEC §8): one row per close; the books are closed through
the latest. Reviewed by hand.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "period_close",
        sa.Column("through", sa.Date(), nullable=False),
        sa.Column("last_entry_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_period_close")),
        sa.UniqueConstraint("through", name=op.f("uq_period_close_through")),
    )


def downgrade() -> None:
    op.drop_table("period_close")
