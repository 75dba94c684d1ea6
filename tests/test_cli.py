"""The `blocktime` command line. The token and demo commands are tested with accounting."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, inspect
from typer.testing import CliRunner

from api.cli import ExportFormatChoice, RoleChoice, app
from models import Base
from models.enums import Role
from models.settings import Settings, get_settings
from tests.processes import run_blocktime


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    """Settings are cached per process; let a test's environment variables count."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


class TestHelp:
    def test_help_lists_every_command(self, tmp_path: Path) -> None:
        result = run_blocktime("--help", cwd=tmp_path)

        assert result.returncode == 0, result.stderr
        for command in ("serve", "worker", "scheduler", "db", "demo", "token", "export"):
            assert command in result.stdout

    def test_importing_the_cli_loads_no_application_code(self, tmp_path: Path) -> None:
        # `blocktime --help` must stay fast: strawberry, SQLAlchemy, dramatiq and the
        # models load only inside the command that needs them.
        probe = (
            "import sys, api.cli; "
            "heavy = {'strawberry', 'sqlalchemy', 'dramatiq', 'models', 'accounting', 'uvicorn'}; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & heavy))"
        )
        result = subprocess.run(
            [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
        )

        assert result.stdout.strip() == "[]"

    def test_role_choices_are_the_contract_roles(self) -> None:
        assert [choice.value for choice in RoleChoice] == [role.value for role in Role]


class TestDbUpgrade:
    def test_creates_every_table_in_a_new_sqlite_file(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path / 'cli.db'}"

        result = run_blocktime("db", "upgrade", cwd=tmp_path, DATABASE_URL=url)

        assert result.returncode == 0, result.stderr
        assert "is at revision" in result.stdout
        engine = create_engine(url)
        try:
            assert set(inspect(engine).get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}
        finally:
            engine.dispose()

    def test_upgrading_again_and_checking_succeed(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path / 'cli.db'}"
        assert run_blocktime("db", "upgrade", cwd=tmp_path, DATABASE_URL=url).returncode == 0

        again = run_blocktime("db", "upgrade", cwd=tmp_path, DATABASE_URL=url)
        check = run_blocktime("db", "check", cwd=tmp_path, DATABASE_URL=url)

        assert again.returncode == 0, again.stderr
        assert check.returncode == 0, check.stderr
        assert "No drift" in check.stdout


class TestWorker:
    def test_refuses_to_start_without_redis(
        self, monkeypatch: pytest.MonkeyPatch, fresh_settings: None
    ) -> None:
        monkeypatch.delenv("REDIS_URL", raising=False)

        result = CliRunner().invoke(app, ["worker"])

        assert result.exit_code == 2
        assert "REDIS_URL is not set" in result.output

    def test_execs_dramatiq_on_the_actors_module(
        self, monkeypatch: pytest.MonkeyPatch, fresh_settings: None
    ) -> None:
        monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
        calls: list[tuple[str, list[str]]] = []
        monkeypatch.setattr(os, "execvp", lambda file, argv: calls.append((file, argv)))

        result = CliRunner().invoke(
            app, ["worker", "--processes", "2", "--threads", "3", "-Q", "billing", "-Q", "notifications"]
        )

        assert result.exit_code == 0, result.output
        assert calls == [
            (
                sys.executable,
                [
                    sys.executable,
                    "-m",
                    "dramatiq",
                    "workers.actors",
                    "--processes",
                    "2",
                    "--threads",
                    "3",
                    "--queues",
                    "billing",
                    "notifications",
                ],
            )
        ]


class TestTokenListAndRevoke:
    def test_lists_tokens_without_secrets_and_revokes_one_audited(
        self, db: Engine, settings: Settings, tmp_path: Path
    ) -> None:
        from sqlalchemy import select

        from accounting import access
        from accounting.errors import Unauthenticated
        from models import AuditEntry
        from models.db import unit_of_work

        url = settings.database_url
        with unit_of_work(db) as session:
            token, secret = access.create_token(session, role=Role.ACCOUNTANT, name="bob-books")
            token_id = token.id

        listed = run_blocktime("token", "list", cwd=tmp_path, DATABASE_URL=url)
        revoked = run_blocktime("token", "revoke", str(token_id), cwd=tmp_path, DATABASE_URL=url)
        after = run_blocktime("token", "list", cwd=tmp_path, DATABASE_URL=url)
        missing = run_blocktime("token", "revoke", "999999", cwd=tmp_path, DATABASE_URL=url)

        assert listed.returncode == 0, listed.stderr
        assert f"{token_id}\tACCOUNTANT\tbob-books\t-\t" in listed.stdout
        assert listed.stdout.rstrip().endswith("active")
        assert secret not in listed.stdout
        assert revoked.returncode == 0, revoked.stderr
        assert f"Token {token_id} ('bob-books') is revoked." in revoked.stdout
        assert "\trevoked 20" in after.stdout
        assert (missing.returncode, missing.stderr.strip()) == (1, "error: API token 999999 not found")
        with unit_of_work(db, writer=False) as session:
            with pytest.raises(Unauthenticated, match="not valid"):
                access.authenticate(session, secret)
            (entry,) = session.scalars(select(AuditEntry).where(AuditEntry.action == "revokeApiToken"))
            assert (entry.actor_name.startswith("cli:"), entry.object_id) == (True, str(token_id))


class TestExport:
    """`blocktime export` against the suite's database (both backends)."""

    def committed_batch(self, engine: Engine) -> str:
        from models.db import unit_of_work
        from tests.accounting.test_exports import varied_batch

        with unit_of_work(engine) as session:
            return varied_batch(session).batch.identifier

    def test_format_choices_are_the_contract_formats(self) -> None:
        from accounting.exports import FORMATS
        from api.enums import ExportFormat

        assert [c.value for c in ExportFormatChoice] == [f.value for f in ExportFormat] == list(FORMATS)

    def test_writes_a_beancount_ledger_to_standard_output(
        self, db: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch, fresh_settings: None
    ) -> None:
        from beancount import loader

        identifier = self.committed_batch(db)
        monkeypatch.setenv("DATABASE_URL", settings.database_url)
        get_settings.cache_clear()  # building the batch read the settings (the clock's time zone)

        result = CliRunner().invoke(app, ["export", identifier, "--format", "BEANCOUNT"])

        assert result.exit_code == 0, result.output
        entries, errors, _ = loader.load_string(result.stdout)
        assert errors == [] and len(entries) > 10

    def test_writes_the_file_named_by_output_and_takes_settings_from_the_environment(
        self,
        db: Engine,
        settings: Settings,
        monkeypatch: pytest.MonkeyPatch,
        fresh_settings: None,
        tmp_path: Path,
    ) -> None:
        import csv

        identifier = self.committed_batch(db)
        monkeypatch.setenv("DATABASE_URL", settings.database_url)
        monkeypatch.setenv("BLOCKTIME_QBO_DATE_FORMAT", "DD/MM/YYYY")
        get_settings.cache_clear()  # building the batch read the settings (the clock's time zone)
        target = tmp_path / "journal.csv"

        result = CliRunner().invoke(
            app, ["export", identifier, "--format", "QBO_CSV", "--output", str(target)]
        )

        assert result.exit_code == 0, result.output
        rows = list(csv.DictReader(target.open(newline="")))
        assert {r["Journal Date"] for r in rows} == {"04/05/2026", "04/06/2026"}

    def test_bean_check_accepts_the_written_ledger(
        self,
        db: Engine,
        settings: Settings,
        monkeypatch: pytest.MonkeyPatch,
        fresh_settings: None,
        tmp_path: Path,
    ) -> None:
        identifier = self.committed_batch(db)
        monkeypatch.setenv("DATABASE_URL", settings.database_url)
        get_settings.cache_clear()  # building the batch read the settings (the clock's time zone)
        target = tmp_path / "books.beancount"

        result = CliRunner().invoke(app, ["export", identifier, "-f", "BEANCOUNT", "-o", str(target)])
        checked = subprocess.run(
            [str(Path(sys.executable).with_name("bean-check")), str(target)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

        assert result.exit_code == 0, result.output
        assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")

    def test_an_unknown_batch_fails_with_a_message(
        self, db: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch, fresh_settings: None
    ) -> None:
        monkeypatch.setenv("DATABASE_URL", settings.database_url)
        get_settings.cache_clear()  # building the batch read the settings (the clock's time zone)

        result = CliRunner().invoke(app, ["export", "JB-999999", "--format", "IIF"])

        assert result.exit_code == 1
        assert "journal batch JB-999999 not found" in result.stderr

    def test_a_split_xero_export_is_written_as_numbered_files(
        self,
        db: Engine,
        settings: Settings,
        monkeypatch: pytest.MonkeyPatch,
        fresh_settings: None,
        tmp_path: Path,
    ) -> None:
        import datetime as dt
        from decimal import Decimal

        from accounting import agreements, batches
        from models.db import unit_of_work
        from testkit import factories

        with unit_of_work(db) as session:
            factories.chart_of_accounts(session)
            rates = factories.rates(session)
            deal = factories.agreement(
                session, agreement_type=factories.block_time_type(session, rates=rates)
            )
            for _ in range(151):
                agreements.purchase_block(
                    session,
                    agreement_id=deal.id,
                    units=Decimal(1),
                    unit_price=Decimal(10),
                    effective_date=dt.date(2026, 5, 4),
                )
            created = batches.create_batch(session, through_date=dt.date(2026, 5, 4))
            identifier = batches.post_batch(session, batch_id=created.id).identifier
        monkeypatch.setenv("DATABASE_URL", settings.database_url)
        get_settings.cache_clear()  # building the batch read the settings (the clock's time zone)

        to_stdout = CliRunner().invoke(app, ["export", identifier, "--format", "XERO_CSV"])
        to_files = CliRunner().invoke(
            app, ["export", identifier, "--format", "XERO_CSV", "--output", str(tmp_path / "xero.csv")]
        )

        assert to_stdout.exit_code == 2 and "pass --output FILE" in to_stdout.stderr
        assert to_files.exit_code == 0, to_files.output
        assert sorted(p.name for p in tmp_path.iterdir()) == ["xero-1.csv", "xero-2.csv"]
        assert [len((tmp_path / n).read_text().splitlines()) for n in ("xero-1.csv", "xero-2.csv")] == [
            299,
            5,
        ]
