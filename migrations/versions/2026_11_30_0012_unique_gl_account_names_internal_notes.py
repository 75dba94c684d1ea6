"""unique GL account names; staff-only internal notes on time entries

Revision ID: 0012
Revises: 0001
Create Date: 2026-11-30

GL account names become unique (the IIF export names accounts by name). A database
that already holds two accounts of one name cannot be upgraded silently: the upgrade
stops before changing anything and names the duplicates with their codes, to be renamed
by hand (`blocktime db upgrade` prints the message, not a traceback).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations.runner import MigrationRefused

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


HOW_TO_RENAME = "UPDATE gl_account SET name = '<new name>' WHERE code = '<code>';"


class DuplicateGLAccountNames(MigrationRefused):
    pass


def _refuse_duplicate_names() -> None:
    rows = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT name, code FROM gl_account WHERE name IN "
                "(SELECT name FROM gl_account GROUP BY name HAVING COUNT(*) > 1) ORDER BY name, code"
            )
        )
        .all()
    )
    if rows:
        codes: dict[str, list[str]] = {}
        for name, code in rows:
            codes.setdefault(name, []).append(code)
        listed = "; ".join(f"{name!r} ({len(c)} accounts: codes {', '.join(c)})" for name, c in codes.items())
        raise DuplicateGLAccountNames(
            "cannot make GL account names unique: rename the duplicates first, then upgrade again: "
            f"{listed}. Rename all but one of each, e.g. in SQL: {HOW_TO_RENAME}"
        )


def upgrade() -> None:
    _refuse_duplicate_names()
    with op.batch_alter_table("gl_account", schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f("uq_gl_account_name"), ["name"])
    with op.batch_alter_table("time_entry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("internal_notes", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("time_entry", schema=None) as batch_op:
        batch_op.drop_column("internal_notes")
    with op.batch_alter_table("gl_account", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_gl_account_name"), type_="unique")
