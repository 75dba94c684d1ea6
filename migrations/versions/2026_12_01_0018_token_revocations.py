"""token revocations announced by the database: NOTIFY on any change of api_token

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01 03:50:00+00:00

A serving process keeps the tokens it has seen while it LISTENs for revocations
(api/revocations.py). A trigger rather than the application sends the NOTIFY, so that a
token revoked, deleted or truncated by any means (the API, `blocktime token revoke`, an
operator's SQL) is forgotten by every process at the COMMIT that changes it. PostgreSQL
only: SQLite has no channel, and there every request reads its token. The channel name is
accounting.access.REVOCATIONS_CHANNEL's; the payload is the token's id (empty after a
TRUNCATE: every token).
"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION blocktime_token_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'TRUNCATE' THEN
                PERFORM pg_notify('blocktime_token_revoked', '');  -- every token
            ELSE
                PERFORM pg_notify('blocktime_token_revoked', OLD.id::text);
            END IF;
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER api_token_changed AFTER UPDATE OR DELETE ON api_token "
        "FOR EACH ROW EXECUTE FUNCTION blocktime_token_changed()"
    )
    op.execute(
        "CREATE TRIGGER api_token_truncated AFTER TRUNCATE ON api_token "
        "FOR EACH STATEMENT EXECUTE FUNCTION blocktime_token_changed()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS api_token_truncated ON api_token")
    op.execute("DROP TRIGGER IF EXISTS api_token_changed ON api_token")
    op.execute("DROP FUNCTION IF EXISTS blocktime_token_changed()")
