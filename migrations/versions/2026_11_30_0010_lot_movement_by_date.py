"""lot movements indexed by lot and date

Revision ID: 0010
Revises: 0012
Create Date: 2026-11-30 16:45:00+00:00

A balance on a date and a statement read a lot's movements after (or within) a
date: (lot_id, date) serves those range scans and every lookup by lot_id that the
single-column index served, so it replaces it (SPEC §8).
"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0010"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_lot_movement_lot_date", "lot_movement", ["lot_id", "date"], unique=False)
    op.drop_index("ix_lot_movement_lot", table_name="lot_movement")


def downgrade() -> None:
    op.create_index("ix_lot_movement_lot", "lot_movement", ["lot_id"], unique=False)
    op.drop_index("ix_lot_movement_lot_date", table_name="lot_movement")
