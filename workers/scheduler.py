"""The scheduler: the daily billing run and expiry, and the outbox sweep (SPEC §3, §7).

`blocktime scheduler` runs `run_forever()`; the embedded `blocktime serve` runs the
same schedule in a thread (`start_background`). Once BILLING_SCHEDULE (a time of
day in BLOCKTIME_TIMEZONE, SPEC §8) has passed, each day's billing run and expiry
are claimed with a unique ScheduledRun key in the transaction that enqueues them, so a
second scheduler, a restart or a
catch-up never enqueues them twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from accounting import billing, clock, jobs, outbox
from models.db import get_engine, unit_of_work
from models.settings import Settings, get_settings

log = logging.getLogger(__name__)

# How often the scheduler looks whether today's jobs are due: a run missed while
# the database was down, or while no scheduler ran, is enqueued at the next tick.
TICK_SECONDS = 60

# (name, actor, arguments for the day): the billing run invoices everything up to
# the day that just ended; expiry takes the lots whose expiresOn is today or older.
DAILY_JOBS: tuple[tuple[str, str, Callable[[dt.date], dict[str, str]]], ...] = (
    (
        "billing",
        jobs.RUN_BILLING,
        lambda day: {"through_date": billing.scheduled_through_date(day).isoformat()},
    ),
    ("expiry", jobs.EXPIRE_BLOCKS, lambda day: {"as_of": day.isoformat()}),
    # Allowance cycles starting today or earlier, and EXPIRING warnings (SPEC §9).
    ("allowances", jobs.RENEW_ALLOWANCES, lambda day: {"as_of": day.isoformat()}),
)


def parse_schedule(value: str) -> dt.time:
    """BILLING_SCHEDULE, "HH:MM" of the business time zone (a wall-clock time, no zone)."""
    try:
        hour, minute = (int(part) for part in value.split(":"))
        return dt.time(hour, minute)
    except ValueError as exc:
        raise ValueError(f"BILLING_SCHEDULE must be HH:MM, not {value!r}") from exc


def enqueue_daily(engine: Engine, *, day: dt.date) -> list[str]:
    """Enqueue the day's billing run and expiry unless already done; returns the keys claimed."""
    claimed: list[str] = []
    with unit_of_work(engine) as session:
        for name, actor, arguments in DAILY_JOBS:
            key = f"{name}:{day.isoformat()}"
            if outbox.claim_scheduled_run(session, key=key):
                jobs.enqueue(session, actor, **arguments(day))
                claimed.append(key)
    if claimed:
        log.info("Scheduled %s.", ", ".join(claimed))
    return claimed


def run_due(
    engine: Engine, *, at: dt.time, now: dt.datetime | None = None, zone: ZoneInfo | None = None
) -> list[str]:
    """Enqueue today's jobs if their time has come: on each tick, and at start-up to
    catch up a run missed while no scheduler was running. The day and the hour are the
    business time zone's (SPEC §8)."""
    local = (now or clock.now(zone)).astimezone(zone or clock.business_zone())
    if local.time() < at:
        return []
    return enqueue_daily(engine, day=local.date())


def tick(engine: Engine, at: dt.time, zone: ZoneInfo | None = None) -> None:
    """Every minute: a tick that fails (the database is down) is made good by the next."""
    try:
        run_due(engine, at=at, zone=zone)
    except Exception:
        log.exception("Scheduled jobs could not be enqueued; trying again at the next tick.")


def _add_jobs(scheduler: BaseScheduler, engine: Engine, at: dt.time, zone: ZoneInfo) -> None:
    scheduler.add_job(
        tick,
        IntervalTrigger(seconds=TICK_SECONDS, timezone=zone),
        kwargs={"engine": engine, "at": at, "zone": zone},
        id="daily",
        coalesce=True,
        max_instances=1,
    )


def start_background(settings: Settings) -> BackgroundScheduler:
    """The schedule in a thread of this process (the embedded `blocktime serve`)."""
    engine = get_engine(settings)
    at = parse_schedule(settings.billing_schedule)
    zone = clock.parse_zone(settings.timezone)
    scheduler = BackgroundScheduler(timezone=zone)
    _add_jobs(scheduler, engine, at, zone)
    scheduler.start()
    tick(engine, at, zone)
    return scheduler


def run_forever(settings: Settings | None = None) -> None:
    """`blocktime scheduler`: run exactly one (a second is harmless, but useless)."""
    from workers.broker import configure
    from workers.relay import Relay

    settings = settings or get_settings()
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    engine = get_engine(settings)
    at = parse_schedule(settings.billing_schedule)
    zone = clock.parse_zone(settings.timezone)
    relay: Relay | None = None
    if settings.redis_url:
        import workers.actors  # noqa: F401 - declares the actors the relay sends to

        relay = Relay(engine, configure(settings), sweep_seconds=settings.outbox_sweep_seconds).start()
    else:
        # An in-process broker here would swallow the jobs: `blocktime serve` relays them.
        log.warning("No REDIS_URL: scheduled jobs wait in the outbox for `blocktime serve` to run them.")
    scheduler = BlockingScheduler(timezone=zone)
    _add_jobs(scheduler, engine, at, zone)

    stopping = threading.Event()

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("Scheduler stopping (signal %d).", signum)
        stopping.set()
        if scheduler.running:
            scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    try:
        tick(engine, at, zone)
        log.info(
            "Scheduler: billing run and expiry daily at %s %s; outbox sweep every %.0f s.",
            at.strftime("%H:%M"),
            zone.key,
            settings.outbox_sweep_seconds,
        )
        if not stopping.is_set():
            scheduler.start()
    except KeyboardInterrupt:
        pass
    finally:
        if relay is not None:
            relay.stop()
