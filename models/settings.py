"""Typed settings from the environment; passed into the app and worker factories."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Literal
from urllib.parse import SplitResult, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    database_url: str = Field(default="sqlite:///blocktime.db", alias="DATABASE_URL")
    # Unset: an in-process broker and worker (the embedded default).
    redis_url: str | None = Field(default=None, alias="REDIS_URL")
    currency: str = Field(default="USD", alias="BLOCKTIME_CURRENCY")
    # The business day (SPEC §8): "today" and the daily schedule are in this IANA time zone.
    timezone: str = Field(default="UTC", alias="BLOCKTIME_TIMEZONE")
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")
    environment: Literal["development", "production", "test"] = Field(
        default="development", alias="BLOCKTIME_ENV"
    )

    smtp_host: str | None = Field(default=None, alias="SMTP_HOST")
    smtp_port: int = Field(default=25, alias="SMTP_PORT")
    smtp_user: str | None = Field(default=None, alias="SMTP_USER")
    smtp_password: str | None = Field(default=None, alias="SMTP_PASSWORD")
    smtp_from: str = Field(default="blocktime@localhost", alias="SMTP_FROM")
    smtp_starttls: bool = Field(default=False, alias="SMTP_STARTTLS")
    # STARTTLS verifies the server's certificate against the system's CAs, or this bundle.
    smtp_ca_file: str | None = Field(default=None, alias="SMTP_CA_FILE")

    # Scheduler: the daily billing run and expiry at this hour:minute of BLOCKTIME_TIMEZONE.
    billing_schedule: str = Field(default="02:00", alias="BILLING_SCHEDULE")
    outbox_sweep_seconds: float = Field(default=30.0, alias="OUTBOX_SWEEP_SECONDS")
    webhook_timeout_seconds: float = Field(default=10.0, alias="WEBHOOK_TIMEOUT_SECONDS")

    # Exports (SPEC §4): what differs between accounting package installations.
    qbo_date_format: Literal["MM/DD/YYYY", "DD/MM/YYYY"] = Field(
        default="MM/DD/YYYY", alias="BLOCKTIME_QBO_DATE_FORMAT"
    )
    xero_tax_rate: str = Field(default="Tax Exempt", min_length=1, alias="BLOCKTIME_XERO_TAX_RATE")
    xero_receivable_account: str | None = Field(default=None, alias="BLOCKTIME_XERO_RECEIVABLE_ACCOUNT")

    db_pool_size: int = Field(default=10, alias="DB_POOL_SIZE")
    # Operations one API process executes at once (threads running strawberry and the ORM):
    # unset, the machine's cores + 1, never more than the pool has connections. More threads
    # than cores only fight over the GIL (bench B1 on 2 cores: 10 threads 4.8 ms of CPU per
    # balance check and p99 82 ms at 100 requests/s; 3 threads 2.6 ms and 9.1 ms).
    api_concurrency: int | None = Field(default=None, ge=1, le=1000, alias="API_CONCURRENCY")

    def operations_at_once(self) -> int:
        wanted = self.api_concurrency or (os.cpu_count() or 1) + 1
        return max(1, min(wanted, self.db_pool_size))

    max_body_bytes: int = Field(default=1_000_000, alias="MAX_BODY_BYTES")

    # Browser front ends on other origins that may call /graphql (SPEC §11): a comma-separated
    # allowlist of exact origins such as https://portal.msp.example; empty = no CORS at all.
    cors_origins: str = Field(default="", alias="CORS_ORIGINS")

    @field_validator("cors_origins")
    @classmethod
    def _origins_are_exact(cls, value: str) -> str:
        for origin in _split_origins(value):
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.hostname or origin != _origin(parts):
                raise ValueError(
                    f"CORS_ORIGINS: {origin!r} is not an origin like https://portal.msp.example "
                    "(scheme and host, an optional port, no path; no wildcard)"
                )
        return value

    @property
    def allowed_origins(self) -> tuple[str, ...]:
        return tuple(_split_origins(self.cors_origins))

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"BLOCKTIME_TIMEZONE must be an IANA time zone name, not {value!r}") from exc
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _split_origins(value: str) -> list[str]:
    return [origin.strip() for origin in value.split(",") if origin.strip()]


def _origin(parts: SplitResult) -> str:
    port = f":{parts.port}" if parts.port is not None else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
