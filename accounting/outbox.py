"""The job side of the outbox (SPEC §7): relaying, claiming and failing jobs.

`accounting.jobs.enqueue` writes a job in the caller's transaction. The relay moves
PENDING jobs to the broker and marks them SENT; a worker marks the job RUNNING with
its name (committed at once, so everyone sees it), then claims it in the very
transaction that does its work, so a job delivered twice has one effect; a job that
fails for good is FAILED with its error, where an admin can see it (the dead letters).

Every worker process beats in `worker_heartbeat`; a RUNNING job whose worker stopped
beating is an orphan, which the relay sends again (SPEC §7: re-run within 30 s).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, case, delete, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from accounting import jobs
from accounting.errors import InvalidInput, NotFound
from models import NotificationDelivery, OutboxJob, ScheduledRun, WorkerHeartbeat, utcnow
from models.enums import DeliveryStatus, JobStatus

# Long enough for a Postgres error with its SQL; the full traceback goes to the log.
MAX_ERROR_CHARS = 4000

_UNFINISHED = (JobStatus.PENDING, JobStatus.SENT, JobStatus.RUNNING)
# The hot UPDATEs run on the table, not the entity: an ORM-enabled UPDATE costs a third more
# CPU to run, for nothing there (no session object is synchronised, nothing is pending).
_JOBS = cast(Table, OutboxJob.__table__)


def job_arguments(job: OutboxJob) -> dict[str, Any]:
    """The job's keyword arguments, as enqueued."""
    arguments = json.loads(job.args)
    if not isinstance(arguments, dict):
        raise ValueError(f"outbox job {job.id} has non-object arguments")
    return arguments


def pending_jobs(session: Session, *, limit: int = 100) -> Sequence[OutboxJob]:
    """PENDING jobs, oldest first, locked for this relay; other relays skip them."""
    return session.scalars(_PENDING, {"limit": limit}).all()


def unfinished_jobs(session: Session, *, sent_before: dt.datetime, limit: int = 100) -> Sequence[OutboxJob]:
    """SENT jobs not DONE since `sent_before`: the broker lost them, or a worker died.

    Jobs a worker is running right now are locked by its claim and skipped.
    """
    return session.scalars(_UNFINISHED_SENT, {"sent_before": sent_before, "limit": limit}).all()


# The relay runs these on every pass (a pass per committed change, as it is nudged): built
# once, with bound parameters.
_PENDING = (
    select(OutboxJob)
    .where(OutboxJob.status == JobStatus.PENDING)
    .order_by(OutboxJob.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
    .execution_options(populate_existing=True)
)
_UNFINISHED_SENT = (
    select(OutboxJob)
    .where(OutboxJob.status == JobStatus.SENT, OutboxJob.sent_at < bindparam("sent_before"))
    .order_by(OutboxJob.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
    .execution_options(populate_existing=True)
)


def mark_sent(session: Session, jobs: Sequence[OutboxJob]) -> None:
    """The jobs handed to the broker are SENT: one UPDATE for the relay's whole batch (the
    unit of work's flush cost a statement's worth of Python per job), and the session's
    jobs hold the new figures as loaded."""
    if not jobs:
        return
    now = utcnow()
    session.execute(_MARK_SENT, {"job_ids": [job.id for job in jobs], "now": now})
    for job in jobs:
        set_committed_value(job, "status", JobStatus.SENT)
        set_committed_value(job, "sent_at", now)


_MARK_SENT = (
    update(_JOBS)
    .where(_JOBS.c.id.in_(bindparam("job_ids", expanding=True)))
    .values(status=JobStatus.SENT, sent_at=bindparam("now"))
)


def start_job(session: Session, *, job_id: int, actor: str, worker: str) -> bool:
    """Mark the job RUNNING on `worker`, in a transaction of its own before the work.

    False when the job is already DONE or FAILED (a duplicate delivery), or is not
    this actor's. While another worker's work transaction holds the job (its claim),
    this waits for it and then finds it DONE.
    """
    parameters = {"job_id": job_id, "job_actor": actor, "worker_name": worker[:128], "now": utcnow()}
    started = session.execute(_START, parameters)
    return cast(CursorResult[Any], started).rowcount == 1


def claim_job(session: Session, *, job_id: int, actor: str) -> bool:
    """Mark the job DONE as the first statement of the transaction that does its work.

    False when the job is already DONE (a duplicate delivery) or FAILED, or is not
    this actor's: the caller then does nothing. The row stays locked until commit,
    so a duplicate running at the same moment waits and then finds it DONE; if the
    work rolls back, so does the claim.
    """
    # an UPDATE: a CursorResult, with its rowcount
    claimed = session.execute(_CLAIM, {"job_id": job_id, "job_actor": actor, "now": utcnow()})
    return cast(CursorResult[Any], claimed).rowcount == 1


# Every job runs both, each in a transaction of its own: built once, with bound parameters
# (building an UPDATE and its cache key per call cost as much as running it; issue 15).
_THIS_JOB = (
    _JOBS.c.id == bindparam("job_id"),
    _JOBS.c.actor == bindparam("job_actor"),  # not a column's name: those are the SET clause's
    _JOBS.c.status.in_(_UNFINISHED),
)
_START = (
    update(_JOBS)
    .where(*_THIS_JOB)
    .values(status=JobStatus.RUNNING, worker=bindparam("worker_name"), started_at=bindparam("now"))
)
_CLAIM = (
    update(_JOBS)
    .where(*_THIS_JOB)
    .values(status=JobStatus.DONE, done_at=bindparam("now"), attempts=_JOBS.c.attempts + 1, last_error=None)
)


def record_failure(session: Session, *, job_id: int, error: str, final: bool) -> None:
    """Count a failed attempt (in its own transaction: the work's was rolled back).

    A final failure makes the job FAILED: a dead letter, kept and listed until
    someone retries it. A job that succeeded meanwhile (a duplicate) is left alone.
    """
    values: dict[str, Any] = {"attempts": OutboxJob.attempts + 1, "last_error": error[:MAX_ERROR_CHARS]}
    if final:
        values["status"] = JobStatus.FAILED
    else:  # waiting for its retry in the broker: no longer running anywhere
        running = OutboxJob.status == JobStatus.RUNNING
        values["status"] = case((running, JobStatus.SENT), else_=OutboxJob.status)
    failed = session.execute(
        update(OutboxJob)
        .where(OutboxJob.id == job_id, OutboxJob.status != JobStatus.DONE)
        .values(values)
        .execution_options(synchronize_session=False)
    )
    job = session.get(OutboxJob, job_id) if final and cast(CursorResult[Any], failed).rowcount else None
    if job is not None and job.actor == jobs.SEND_DELIVERY:
        # Its retries are used up: the delivery is FAILED with its last error (SPEC §10).
        session.execute(
            update(NotificationDelivery)
            .where(
                NotificationDelivery.id == job_arguments(job)["delivery_id"],
                NotificationDelivery.status == DeliveryStatus.PENDING,
            )
            .values(status=DeliveryStatus.FAILED)
            .execution_options(synchronize_session=False)
        )


def beat(session: Session, *, worker: str) -> None:
    """A worker process is alive (every few seconds while it runs)."""
    now = utcnow()
    beaten = session.execute(
        update(WorkerHeartbeat)
        .where(WorkerHeartbeat.name == worker)
        .values(beat_at=now)
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], beaten).rowcount == 0:
        session.add(WorkerHeartbeat(name=worker[:128], beat_at=now))
        session.flush()


def forget_worker(session: Session, *, worker: str) -> None:
    """A worker stopped cleanly: a job it left RUNNING is an orphan at once."""
    session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.name == worker))


def orphaned_jobs(session: Session, *, dead_after: dt.timedelta, limit: int = 100) -> Sequence[OutboxJob]:
    """RUNNING jobs whose worker has not beaten for `dead_after`, marked as such.

    A job whose work transaction is still open is locked by its claim and skipped
    (PostgreSQL); its worker may be slow, not dead. Each orphan counts the lost
    attempt and says which worker died, for the people reading `jobs`.
    """
    now = utcnow()
    cutoff = now - dead_after
    alive = exists().where(WorkerHeartbeat.name == OutboxJob.worker, WorkerHeartbeat.beat_at >= cutoff)
    orphans = session.scalars(
        select(OutboxJob)
        .where(OutboxJob.status == JobStatus.RUNNING, OutboxJob.started_at < cutoff, ~alive)
        .order_by(OutboxJob.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    ).all()
    for job in orphans:
        job.attempts += 1
        job.last_error = (
            f"worker {job.worker} stopped beating while running this job"
            f" (started {job.started_at:%H:%M:%S} UTC); sent again"
        )
    session.flush()
    return orphans


def anyone_dead(session: Session, *, dead_after: dt.timedelta) -> bool:
    """A cheap read first: is there a silent worker, or a RUNNING job whose worker is not alive?"""
    cutoff = utcnow() - dead_after
    alive = exists().where(WorkerHeartbeat.name == OutboxJob.worker, WorkerHeartbeat.beat_at >= cutoff)
    silent = select(WorkerHeartbeat.id).where(WorkerHeartbeat.beat_at < cutoff).limit(1)
    orphan = (
        select(OutboxJob.id)
        .where(OutboxJob.status == JobStatus.RUNNING, OutboxJob.started_at < cutoff, ~alive)
        .limit(1)
    )
    return session.scalar(silent) is not None or session.scalar(orphan) is not None


def dead_workers(session: Session, *, dead_after: dt.timedelta) -> list[tuple[str, dt.datetime]]:
    """Forget the workers that stopped beating; (name, last beat) of each, once."""
    rows = session.execute(
        select(WorkerHeartbeat.id, WorkerHeartbeat.name, WorkerHeartbeat.beat_at)
        .where(WorkerHeartbeat.beat_at < utcnow() - dead_after)
        .with_for_update(skip_locked=True)
    ).all()
    if rows:
        session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.id.in_([row.id for row in rows])))
    return [(row.name, row.beat_at) for row in rows]


def failed_jobs(session: Session, *, limit: int = 100) -> Sequence[OutboxJob]:
    """The dead letters, newest first."""
    return session.scalars(
        select(OutboxJob)
        .where(OutboxJob.status == JobStatus.FAILED)
        .order_by(OutboxJob.id.desc())
        .limit(limit)
    ).all()


def retry_job(session: Session, *, job_id: int) -> OutboxJob:
    """Put a FAILED job back in the outbox (after fixing what made it fail)."""
    job = session.scalars(
        select(OutboxJob)
        .where(OutboxJob.id == job_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if job is None:
        raise NotFound("outbox job", job_id)
    if job.status is not JobStatus.FAILED:
        raise InvalidInput(f"outbox job {job_id} is {job.status.value}; only a FAILED job can be retried")
    job.status = JobStatus.PENDING
    job.sent_at = None
    if job.actor == jobs.SEND_DELIVERY:
        session.execute(
            update(NotificationDelivery)
            .where(
                NotificationDelivery.id == job_arguments(job)["delivery_id"],
                NotificationDelivery.status == DeliveryStatus.FAILED,
            )
            .values(status=DeliveryStatus.PENDING)
            .execution_options(synchronize_session=False)
        )
    session.flush()
    session.info["jobs_enqueued"] = True
    return job


def failed_job_of_delivery(session: Session, *, delivery_id: int) -> OutboxJob | None:
    """The newest dead-lettered send of one delivery, if any (dead letters are few)."""
    for job in session.scalars(
        select(OutboxJob)
        .where(OutboxJob.actor == jobs.SEND_DELIVERY, OutboxJob.status == JobStatus.FAILED)
        .order_by(OutboxJob.id.desc())
    ):
        if job_arguments(job).get("delivery_id") == delivery_id:
            return job
    return None


def record_delivery_failure(session: Session, *, delivery_id: int, error: str) -> None:
    """Count a failed attempt of one notification channel, for the people reading it.

    Only while it is PENDING: one already given up (its webhook deleted meanwhile) keeps
    the reason it was given up for.
    """
    session.execute(
        update(NotificationDelivery)
        .where(NotificationDelivery.id == delivery_id, NotificationDelivery.status == DeliveryStatus.PENDING)
        .values(attempts=NotificationDelivery.attempts + 1, last_error=error[:MAX_ERROR_CHARS])
        .execution_options(synchronize_session=False)
    )


def claim_scheduled_run(session: Session, *, key: str) -> bool:
    """Claim one scheduled job for one period ("billing:2026-11-23"); False if already
    claimed, by this scheduler earlier or by another one running beside it."""
    if session.scalar(select(ScheduledRun.id).where(ScheduledRun.key == key)) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(ScheduledRun(key=key))
    except IntegrityError:
        return False
    return True
