"""docker-compose.yml and the Dockerfile, read as data (there is no Docker engine here)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import make_url

from models.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("migrate", "api", "worker", "scheduler")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    with (ROOT / "docker-compose.yml").open() as f:
        data: dict[str, Any] = yaml.safe_load(f)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = compose["services"]
    return result


def env(service: dict[str, Any]) -> dict[str, str | None]:
    environment = service["environment"]
    assert isinstance(environment, dict), "environment must be a mapping (the shared x-blocktime-env)"
    return environment


class TestServices:
    def test_the_six_services(self, services: dict[str, Any]) -> None:
        assert set(services) == {"postgres", "redis", *APP_SERVICES}

    def test_servers_use_the_pinned_major_images(self, services: dict[str, Any]) -> None:
        assert services["postgres"]["image"] == "postgres:16"
        assert services["redis"]["image"] == "redis:7"

    def test_application_services_share_one_image_built_here(self, services: dict[str, Any]) -> None:
        images = {services[name]["image"] for name in APP_SERVICES}
        builds = {services[name]["build"] for name in APP_SERVICES}

        assert len(images) == 1
        assert builds == {"."}

    def test_commands(self, services: dict[str, Any]) -> None:
        assert services["migrate"]["command"] == ["blocktime", "db", "upgrade"]
        # In a container the API must listen beyond loopback; the port is published.
        serve = ["blocktime", "serve", "--host", "0.0.0.0", "--port", "8000"]  # noqa: S104
        assert services["api"]["command"] == serve
        assert services["worker"]["command"] == ["blocktime", "worker"]
        assert services["scheduler"]["command"] == ["blocktime", "scheduler"]

    def test_migrate_runs_once_and_the_scheduler_is_single(self, services: dict[str, Any]) -> None:
        assert services["migrate"]["restart"] == "no"
        assert services["scheduler"]["deploy"]["replicas"] == 1

    def test_redis_persists_queued_jobs(self, services: dict[str, Any]) -> None:
        command = services["redis"]["command"]

        assert command[command.index("--appendonly") + 1] == "yes"
        assert any(volume.endswith(":/data") for volume in services["redis"]["volumes"])

    def test_postgres_keeps_its_data_in_a_volume(self, services: dict[str, Any]) -> None:
        assert any(v.endswith(":/var/lib/postgresql/data") for v in services["postgres"]["volumes"])


class TestHealthAndOrder:
    def test_healthchecks(self, services: dict[str, Any]) -> None:
        assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
        assert services["redis"]["healthcheck"]["test"][-2:] == ["redis-cli", "ping"]
        assert "http://127.0.0.1:8000/healthz" in " ".join(services["api"]["healthcheck"]["test"])

    def test_migrate_waits_for_a_healthy_database(self, services: dict[str, Any]) -> None:
        assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}

    @pytest.mark.parametrize("name", ["api", "worker", "scheduler"])
    def test_processes_start_after_migrating_with_redis_up(self, services: dict[str, Any], name: str) -> None:
        assert services[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"},
            "redis": {"condition": "service_healthy"},
        }


class TestSharedEnvironment:
    def test_every_process_sees_the_same_database_and_broker(self, services: dict[str, Any]) -> None:
        database_urls = {env(services[name])["DATABASE_URL"] for name in APP_SERVICES}
        redis_urls = {env(services[name])["REDIS_URL"] for name in APP_SERVICES}

        assert len(database_urls) == 1
        assert len(redis_urls) == 1

    def test_database_url_matches_the_postgres_service(self, services: dict[str, Any]) -> None:
        url = make_url(str(env(services["api"])["DATABASE_URL"]))
        postgres = services["postgres"]["environment"]

        assert url.drivername == "postgresql+psycopg"
        assert url.host == "postgres"
        assert url.username == postgres["POSTGRES_USER"]
        assert url.password == postgres["POSTGRES_PASSWORD"]
        assert url.database == postgres["POSTGRES_DB"]
        assert postgres["POSTGRES_USER"] in " ".join(services["postgres"]["healthcheck"]["test"])

    def test_redis_url_names_the_redis_service(self, services: dict[str, Any]) -> None:
        assert re.fullmatch(r"redis://redis:6379/\d+", str(env(services["api"])["REDIS_URL"]))

    def test_every_variable_is_a_setting_and_they_validate(self, services: dict[str, Any]) -> None:
        known = {field.alias for field in Settings.model_fields.values()}
        environment = env(services["api"])

        assert set(environment) <= known, f"not settings: {set(environment) - known}"
        # Empty values come from the shell running compose; here they are simply unset.
        settings = Settings.model_validate({k: v for k, v in environment.items() if v is not None})
        assert settings.environment == "production"
        assert not settings.is_sqlite


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


class TestDockerfile:
    def test_base_image_and_locked_install(self, dockerfile: str) -> None:
        assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.MULTILINE)
        assert "uv sync --frozen --no-dev" in dockerfile

    def test_copies_every_package_of_the_wheel(self, dockerfile: str) -> None:
        pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
        packages = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]

        for package in packages:
            assert re.search(rf"^COPY {package} ", dockerfile, re.MULTILINE), f"{package}/ is not copied"
        assert re.search(r"^COPY alembic\.ini ", dockerfile, re.MULTILINE)

    def test_runs_as_an_unprivileged_user(self, dockerfile: str) -> None:
        users = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)

        assert users
        assert users[-1] != "root"


class TestReadme:
    def test_configuration_table_lists_every_setting(self) -> None:
        readme = (ROOT / "README.md").read_text()

        for field in Settings.model_fields.values():
            assert f"| `{field.alias}` |" in readme, f"README's configuration table lacks {field.alias}"

    def test_opens_with_the_two_commands(self) -> None:
        head = "\n".join((ROOT / "README.md").read_text().splitlines()[:10])

        assert "make run" in head
        assert "make test" in head
