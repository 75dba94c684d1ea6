"""What `blocktime serve` runs beside the API (SPEC §7).

    with background(settings):
        ...serve...

Without REDIS_URL (the embedded default) the jobs run in this process: an
in-process broker, worker threads, the outbox relay and the daily schedule.
With REDIS_URL only the relay runs here, so a mutation's jobs reach Redis
milliseconds after its commit; `blocktime worker` runs them and
`blocktime scheduler` keeps the schedule.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dramatiq import Worker

from models.db import get_engine
from models.settings import Settings
from workers.broker import configure
from workers.relay import Relay

EMBEDDED_WORKER_THREADS = 2


@contextmanager
def background(settings: Settings, *, schedule: bool = True) -> Iterator[None]:
    """Run the background half for as long as the block lasts.

    `schedule=False` leaves out the embedded daily schedule (tests).
    """
    import workers.actors  # noqa: F401 - declares the actors before the broker is swapped

    broker = configure(settings)
    if settings.redis_url:
        relay = Relay(get_engine(settings), broker, sweep_seconds=settings.outbox_sweep_seconds).start()
        try:
            yield
        finally:
            relay.stop()
        return

    from workers.scheduler import start_background

    # Starts the time-limit watchdog, as the dramatiq CLI does in its processes.
    broker.emit_after("process_boot")
    # The worker's boot starts the relay (workers.middleware.RelayWhileWorking).
    worker = Worker(broker, worker_threads=EMBEDDED_WORKER_THREADS)
    worker.start()
    scheduler = start_background(settings) if schedule else None
    try:
        yield
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        worker.stop(timeout=10_000)
        broker.close()
