"""Fault tests only: a worker that holds some jobs' transactions open.

A worker started as `python -m dramatiq workers.actors tests.workers.hold_jobs`
imports this module after the actors: the jobs of the actors named (comma-separated)
in BLOCKTIME_TEST_HOLD_JOBS then do their work and hold their transaction open for
HOLD_SECONDS before committing, so that the test can kill the worker in the middle
of it. Production code knows nothing of it (the `start_holding_worker` fixture).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from workers import actors

HOLD_JOBS_ENV = "BLOCKTIME_TEST_HOLD_JOBS"
HOLD_SECONDS = 120.0

log = logging.getLogger(__name__)
_claimed = actors.claimed
_held = set(os.environ.get(HOLD_JOBS_ENV, "").split(","))


@contextmanager
def claimed_then_held(job_id: int, actor: str) -> Iterator[Session | None]:
    """The actors' own unit of work, held open once the work is done (before the commit)."""
    with _claimed(job_id, actor) as session:
        yield session
        if session is not None and actor in _held:
            log.warning("Job %s (%s) did its work; holding its transaction open (test).", job_id, actor)
            time.sleep(HOLD_SECONDS)


actors.claimed = claimed_then_held  # the actors look it up each time they run
