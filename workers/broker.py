"""The Dramatiq broker chosen by settings, set before any actor is declared.

REDIS_URL set: Dramatiq's Redis broker, consumed by `blocktime worker` processes.
Unset (the embedded default): an in-process StubBroker that `blocktime serve`
consumes with worker threads (workers.runtime).

`workers.actors` calls `configure()` when it is imported, with the settings of
the environment, so `python -m dramatiq workers.actors` needs nothing else. A
test or `blocktime serve` calls it again with its own settings: the actors move
to the new broker and run against the new settings' database.
"""

from __future__ import annotations

import threading

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Retries

from models.settings import Settings

_lock = threading.Lock()
_broker: dramatiq.Broker | None = None
_settings: Settings | None = None


def create_broker(settings: Settings) -> dramatiq.Broker:
    """A new broker for these settings, with the outbox's middleware."""
    from workers.heartbeat import Heartbeat
    from workers.middleware import JobFailures, PollInterval, RelayWhileWorking

    broker: dramatiq.Broker = (
        RedisBroker(url=settings.redis_url)  # type: ignore[no-untyped-call]
        if settings.redis_url
        else StubBroker()
    )
    # Before Retries, so that its after_process_message runs after Retries' and
    # knows whether the message will be retried or has failed for good.
    broker.add_middleware(JobFailures(settings), before=Retries)
    broker.add_middleware(PollInterval())
    broker.add_middleware(RelayWhileWorking(settings))
    broker.add_middleware(Heartbeat(settings))
    return broker


def configure(settings: Settings) -> dramatiq.Broker:
    """Make a broker for `settings` the global one and move the declared actors to it."""
    global _broker, _settings
    with _lock:
        broker = create_broker(settings)
        previous = _broker
        dramatiq.set_broker(broker)
        if previous is not None:
            for actor in list(previous.actors.values()):
                actor.broker = broker
                broker.declare_actor(actor)
        _broker, _settings = broker, settings
        return broker


def ensure_configured(settings: Settings) -> dramatiq.Broker:
    """The current broker, or one for `settings` if none was configured yet."""
    with _lock:
        if _broker is not None:
            return _broker
    return configure(settings)


def current_broker() -> dramatiq.Broker:
    if _broker is None:
        raise RuntimeError("workers.broker.configure() has not been called")
    return _broker


def current_settings() -> Settings:
    """The settings the actors run with: the database, SMTP and webhook timeouts."""
    if _settings is None:
        raise RuntimeError("workers.broker.configure() has not been called")
    return _settings
