"""Alembic environment: the models' metadata against the settings' database.

`migrations.runner` passes an open connection in `config.attributes["connection"]`;
the `alembic` command line instead connects to `DATABASE_URL` (models.settings).
"""

from __future__ import annotations

import logging.config
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection
from sqlalchemy.types import TypeDecorator

import models  # every table registers itself on Base.metadata
from models.db import make_engine
from models.settings import get_settings

config = context.config
target_metadata = models.Base.metadata

# The alembic command line gets alembic.ini's logging; the runner (API, CLI, tests)
# keeps the application's, and fileConfig would otherwise disable its loggers.
if config.config_file_name is not None and "connection" not in config.attributes:
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render our column types (Fixed, UTCDateTime) as what the database stores.

    A TypeDecorator is Python-side conversion only; writing `sa.BigInteger()` keeps
    revisions independent of models/ code that may later move or change.
    """
    if type_ == "type" and isinstance(obj, TypeDecorator):
        return f"sa.{obj.impl_instance!r}"
    return False


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite alters tables by copy-and-move (batch mode)
        compare_type=True,
        compare_server_default=True,
        render_item=render_item,
        # Named CHECK constraints are compared only when this opt-in plugin is named.
        autogenerate_plugins=["alembic.autogenerate.*", "alembic.ext.checkconstraint_byname"],
        **kwargs,
    )


@contextmanager
def _sqlite_foreign_keys_off(connection: Connection) -> Iterator[None]:
    """Batch mode rebuilds SQLite tables; enforced foreign keys would break the copy.

    The PRAGMA is a no-op inside a transaction, so it is issued on the driver
    connection before anything begins, and switched back on after the commit so the
    pooled connection goes back as the application expects it. Rows a migration left
    without their parent fail it, as SQLite's own table-rebuild procedure advises.
    """
    if connection.dialect.name != "sqlite" or connection.in_transaction():
        yield
        return
    driver = connection.connection.driver_connection
    assert driver is not None  # noqa: S101 - a live connection always has one
    driver.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
        violations = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if violations:
            raise RuntimeError(f"migration broke foreign keys (table, rowid, parent, fk): {violations[:10]}")
        connection.commit()
    finally:
        if connection.in_transaction():
            connection.rollback()
        driver.execute("PRAGMA foreign_keys=ON")


def _run(connection: Connection) -> None:
    with _sqlite_foreign_keys_off(connection):
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()


def run_migrations_offline() -> None:
    """`alembic upgrade --sql`: print the SQL instead of running it."""
    _configure(url=get_settings().database_url, literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(get_settings().database_url, pool_size=1)
    try:
        with engine.connect() as own_connection:
            _run(own_connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
