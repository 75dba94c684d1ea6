"""The `blocktime` command (SPEC §7): serve, worker, scheduler, db, demo, token.

Each command imports what it needs when it runs, so `blocktime --help` stays fast
and never loads strawberry, the models or dramatiq.
"""

from __future__ import annotations

import enum
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from starlette.applications import Starlette

    from accounting.access import Principal

app = typer.Typer(
    name="blocktime",
    help="Prepaid block-time agreements and deferred revenue for managed service providers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database migrations (Alembic).", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
jobs_app = typer.Typer(
    help="Outbox jobs: the failed ones (dead letters) and their retry.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")
app.add_typer(jobs_app, name="jobs")


class RoleChoice(enum.StrEnum):
    """models.enums.Role, repeated so that --help does not import the models.

    tests/test_cli.py keeps the two in step.
    """

    ADMIN = "ADMIN"
    ACCOUNTANT = "ACCOUNTANT"
    TECHNICIAN = "TECHNICIAN"
    CUSTOMER = "CUSTOMER"


class ExportFormatChoice(enum.StrEnum):
    """api.enums.ExportFormat, repeated so that --help does not import strawberry.

    tests/test_cli.py keeps the two in step.
    """

    CSV = "CSV"
    JSON = "JSON"
    IIF = "IIF"
    XERO_CSV = "XERO_CSV"
    QBO_CSV = "QBO_CSV"
    BEANCOUNT = "BEANCOUNT"


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _engine() -> Engine:
    from models.db import get_engine

    return get_engine()


def _upgrade_database() -> None:
    from migrations.runner import MigrationRefused, current, upgrade

    engine = _engine()
    try:
        upgrade(engine)
    except MigrationRefused as refused:  # the data needs the user's hand, not a traceback
        _fail(str(refused))
    shown = engine.url.render_as_string(hide_password=True)
    typer.echo(f"Database {shown} is at revision {current(engine)}.")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on (0.0.0.0 in a container).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="uvicorn worker processes (PostgreSQL only; SQLite serves with one).")
    ] = 1,
) -> None:
    """Serve the GraphQL API (GraphiQL at /graphql), /healthz, /readyz and /metrics.

    With the embedded SQLite database it migrates first and runs jobs in-process;
    with DATABASE_URL and REDIS_URL set it is stateless: run `db upgrade` once and
    `worker` beside it.
    """
    import uvicorn

    from models.settings import get_settings

    settings = get_settings()
    # uvicorn configures only its own loggers; this shows the jobs (billing runs,
    # batches, notifications raised and delivered) in the same console.
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for chatty in ("alembic", "apscheduler"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLogger().level))
    if settings.is_sqlite:
        _upgrade_database()
        workers = 1  # one writer process: the embedded worker and SQLite's lock live in it
    uvicorn.run(
        "api.cli:served_app",
        factory=True,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        workers=workers,
        # Stop promptly on Ctrl-C or SIGTERM even with a GraphiQL tab holding a connection.
        timeout_graceful_shutdown=10,
    )


def served_app() -> Starlette:
    """The application `serve` runs: the API with the workers' runtime beside it.

    This module is the composition root, the one place that joins api/ and workers/:
    embedded (no REDIS_URL) the runtime runs the jobs, the outbox relay and the daily
    schedule in this process; with REDIS_URL it only relays the outbox to Redis.
    """
    from api.app import create_app
    from workers.runtime import background

    return create_app(background=background)


@app.command()
def worker(
    processes: Annotated[
        int | None, typer.Option(help="Worker processes (dramatiq default: CPU count).")
    ] = None,
    threads: Annotated[int | None, typer.Option(help="Threads per process (dramatiq default: 8).")] = None,
    queues: Annotated[
        list[str] | None, typer.Option("--queues", "-Q", help="Only these queues (repeatable; default: all).")
    ] = None,
) -> None:
    """Run Dramatiq worker processes on the Redis broker (REDIS_URL)."""
    from models.settings import get_settings

    if not get_settings().redis_url:
        _fail("REDIS_URL is not set: without Redis, `blocktime serve` runs the jobs in-process.", code=2)
    argv = [sys.executable, "-m", "dramatiq", "workers.actors"]
    if processes is not None:
        argv += ["--processes", str(processes)]
    if threads is not None:
        argv += ["--threads", str(threads)]
    if queues:
        argv += ["--queues", *queues]
    sys.stdout.flush()
    # Replace this process so signals from the shell or the container reach dramatiq.
    os.execvp(argv[0], argv)  # noqa: S606 - a fixed program and our own arguments, no shell


@app.command()
def scheduler() -> None:
    """Run the scheduler that enqueues the daily billing run and expiry (run exactly one)."""
    from workers.scheduler import run_forever

    run_forever()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database (DATABASE_URL) to the latest revision."""
    _upgrade_database()


@db_app.command("check")
def db_check() -> None:
    """Fail when the models and the migrated database differ (a revision is missing)."""
    from alembic.util import AutogenerateDiffsDetected

    from migrations.runner import check

    try:
        check(_engine())
    except AutogenerateDiffsDetected as exc:
        _fail(f"{exc}\nGenerate a revision: make migration NAME=<what_changed>")
    typer.echo("No drift: the database matches the models.")


@app.command()
def demo() -> None:
    """Seed demo data: the worked example of SPEC §4 and a few more companies (idempotent)."""
    from accounting.demo import seed_demo
    from models.db import unit_of_work

    with unit_of_work() as session:
        seeded = seed_demo(session)
    typer.echo("Demo data seeded." if seeded else "Demo data is already there; nothing changed.")


@app.command("export")
def export(
    batch: Annotated[str, typer.Argument(help="The journal batch: its identifier (JB-000001) or id.")],
    format: Annotated[ExportFormatChoice, typer.Option("--format", "-f", help="The file format.")],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help=(
                "Write to this file (default: standard output). A Xero export over 300 lines "
                "is several files: FILE's name with -1, -2, ... before its suffix."
            ),
        ),
    ] = None,
) -> None:
    """Export a posted journal batch for an accounting package (SPEC §4), without GraphQL."""
    from accounting.errors import DomainError
    from accounting.exports import ExportSettings, export_files, find_batch
    from models.db import unit_of_work
    from models.settings import get_settings

    settings = ExportSettings.from_settings(get_settings())
    try:
        with unit_of_work() as session:
            found = find_batch(session, reference=batch)
            files = export_files(session, batch_id=found.id, format=format.value, settings=settings)
    except DomainError as exc:
        _fail(exc.message)
    if output is None:
        if len(files) > 1:
            _fail(
                f"the export is {len(files)} files (Xero imports at most 300 lines a file): "
                "pass --output FILE to write them",
                code=2,
            )
        sys.stdout.write(files[0].content)
        return
    targets = (
        [output]
        if len(files) == 1
        else [output.with_name(f"{output.stem}-{n}{output.suffix}") for n in range(1, len(files) + 1)]
    )
    for target, file in zip(targets, files, strict=True):
        target.write_text(file.content, encoding="utf-8", newline="")
        typer.echo(f"wrote {target}", err=True)


@token_app.command("create")
def token_create(
    role: Annotated[RoleChoice, typer.Option(help="What the token may do.")],
    name: Annotated[str, typer.Option(help="Who or what uses it; recorded in the audit trail.")],
    company: Annotated[
        str | None, typer.Option(help="Company identifier (e.g. ACME); required for CUSTOMER tokens.")
    ] = None,
) -> None:
    """Create an API token and print it, alone, on the last line (it is shown once)."""
    from accounting.access import create_token
    from accounting.errors import DomainError
    from models.db import unit_of_work
    from models.enums import Role

    try:
        with unit_of_work() as session:
            _, secret = create_token(session, role=Role(role.value), name=name, company_identifier=company)
    except DomainError as exc:
        _fail(exc.message)
    scope = f", company {company}" if company else ""
    typer.echo(f"Created token {name!r} (role {role.value}{scope}), shown once. Send it as a Bearer token:")
    typer.echo(secret)


def _operator() -> Principal:
    """Who the audit trail names for a command run at the console: the OS user."""
    import getpass

    from accounting.access import Principal
    from models.enums import Role

    return Principal(token_id=None, name=f"cli:{getpass.getuser()}", role=Role.ADMIN)


@token_app.command("list")
def token_list() -> None:
    """List the API tokens (never their secrets): id, role, name, company, created, revoked."""
    from sqlalchemy import select

    from accounting.access import SYSTEM
    from api.read import admin
    from models import Company
    from models.db import unit_of_work

    with unit_of_work(writer=False) as session:
        rows = admin.api_tokens(session, SYSTEM)
        companies = {c.id: c.identifier for c in session.scalars(select(Company))}
        lines = [
            "\t".join(
                [
                    str(t.id),
                    t.role.value,
                    t.name,
                    companies.get(t.company_id, "-") if t.company_id else "-",
                    t.created_at.isoformat(timespec="seconds"),
                    f"revoked {t.revoked_at.isoformat(timespec='seconds')}" if t.revoked_at else "active",
                ]
            )
            for t in rows
        ]
    typer.echo("id\trole\tname\tcompany\tcreated\tstatus")
    for line in lines:
        typer.echo(line)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(metavar="ID", help="The token's id (token list).")],
) -> None:
    """Revoke a token: it is refused (UNAUTHENTICATED) from the next request on. Audited."""
    from accounting import audit, tokens
    from accounting.errors import DomainError
    from models.db import unit_of_work

    try:
        with unit_of_work() as session:
            token = tokens.revoke_token(session, token_id=token_id)
            audit.record(
                session, _operator(), action="revokeApiToken", object_type="ApiToken", object_id=token.id
            )
            name = token.name
    except DomainError as exc:
        _fail(exc.message)
    typer.echo(f"Token {token_id} ({name!r}) is revoked.")


def _first_line(text: str | None) -> str:
    return (text or "").strip().split("\n", 1)[0]


@jobs_app.command("failed")
def jobs_failed() -> None:
    """List the failed jobs (dead letters), newest first: id, actor, attempts, last error."""
    from accounting import outbox
    from models.db import unit_of_work

    with unit_of_work(writer=False) as session:
        lines = [
            f"{job.id}\t{job.actor}\t{job.args}\t{job.attempts}\t{_first_line(job.last_error)}"
            for job in outbox.failed_jobs(session)
        ]
    typer.echo("id\tactor\targuments\tattempts\tlast error")
    for line in lines:
        typer.echo(line)


@jobs_app.command("retry")
def jobs_retry(
    job_id: Annotated[int, typer.Argument(metavar="ID", help="A FAILED job's id (jobs failed).")],
) -> None:
    """Put a FAILED job back in the outbox (a failed delivery's job sends it again). Audited."""
    from accounting import audit, outbox
    from accounting.errors import DomainError
    from models.db import unit_of_work

    try:
        with unit_of_work() as session:
            job = outbox.retry_job(session, job_id=job_id)
            audit.record(session, _operator(), action="retryJob", object_type="OutboxJob", object_id=job.id)
            actor = job.actor
    except DomainError as exc:
        _fail(exc.message)
    typer.echo(f"Job {job_id} ({actor}) is PENDING again; a worker will run it.")


if __name__ == "__main__":
    app()
