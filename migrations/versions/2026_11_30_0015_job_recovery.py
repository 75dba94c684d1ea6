"""job recovery: RUNNING jobs name their worker, workers beat

Revision ID: 0015
Revises: 0011
Create Date: 2026-11-30 16:10:00+00:00

A job a worker takes is RUNNING with the worker's name and start time; every worker
process beats in worker_heartbeat, so the relay can send again, within seconds, the
jobs of a worker that died (SPEC §7). JobStatus gains RUNNING: a non-native enum
(VARCHAR(32)), so no DDL for it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "worker_heartbeat",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_worker_heartbeat")),
        sa.UniqueConstraint("name", name=op.f("uq_worker_heartbeat_name")),
    )
    with op.batch_alter_table("outbox_job", schema=None) as batch_op:
        batch_op.add_column(sa.Column("worker", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.execute("UPDATE outbox_job SET status = 'SENT' WHERE status = 'RUNNING'")
    with op.batch_alter_table("outbox_job", schema=None) as batch_op:
        batch_op.drop_column("started_at")
        batch_op.drop_column("worker")
    op.drop_table("worker_heartbeat")
