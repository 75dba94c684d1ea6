"""Jobs written in the same transaction as the change that causes them (SPEC §7)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Enum, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Model, UTCDateTime
from models.enums import JobStatus


class OutboxJob(Model):
    __tablename__ = "outbox_job"
    __table_args__ = (Index("ix_outbox_job_status", "status", "id"),)

    actor: Mapped[str] = mapped_column(String(64))
    # JSON object of keyword arguments: ids and dates, never objects.
    args: Mapped[str] = mapped_column(Text)
    status: Mapped[JobStatus] = mapped_column(
        Enum(JobStatus, native_enum=False, length=32), default=JobStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # While RUNNING (and after): the worker process that took the job, and when.
    worker: Mapped[str | None] = mapped_column(String(128))
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)


class ScheduledRun(Model):
    """A scheduled job claimed once per period, however many schedulers tick."""

    __tablename__ = "scheduled_run"

    # "<job>:<period>", e.g. "billing:2026-11-23".
    key: Mapped[str] = mapped_column(String(128), unique=True)


class WorkerHeartbeat(Model):
    """A live worker process: it beats every few seconds while it runs. A RUNNING job
    whose worker stopped beating is sent again (workers.relay)."""

    __tablename__ = "worker_heartbeat"

    # "<host>:<pid>:<random>", unique per process start.
    name: Mapped[str] = mapped_column(String(128), unique=True)
    beat_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
