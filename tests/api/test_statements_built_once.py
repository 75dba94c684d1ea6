"""The hot paths run statements built once, at import (issue 15): building a statement and
its cache key inside the function cost as much CPU as running it. A balance check, a
logTime, the balance evaluation it enqueues and the relay's pass over it build none."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Delete, Engine, Insert, Select, Update

from accounting import jobs, notifications, outbox
from models import OutboxJob, utcnow
from models.db import unit_of_work
from models.enums import JobStatus
from tests.api.helpers import Client
from tests.api.test_no_n_plus_one import BALANCE_CHECK, LOG_TIME, one_agreements_work

STATEMENTS = (Select, Insert, Update, Delete)


@contextmanager
def building() -> Iterator[list[str]]:
    """The SELECT, INSERT, UPDATE and DELETE statements constructed meanwhile by this thread
    or by the threads that run the API's operations (not by a background thread of the
    app's own, whose periodic work is not a hot path)."""
    built: list[str] = []
    originals = {kind: kind.__init__ for kind in STATEMENTS}
    this_thread = threading.current_thread()

    def spying(kind: type, original: Callable[..., None]) -> Callable[..., None]:
        def construct(self: Any, *arguments: Any, **keywords: Any) -> None:
            thread = threading.current_thread()
            if thread is this_thread or thread.name.startswith("AnyIO worker thread"):
                built.append(kind.__name__)
            original(self, *arguments, **keywords)

        return construct

    for kind, original in originals.items():
        kind.__init__ = spying(kind, original)  # type: ignore[method-assign]
    try:
        yield built
    finally:
        for kind, original in originals.items():
            kind.__init__ = original  # type: ignore[method-assign]


class TestHotPathsBuildNoStatement:
    async def test_a_balance_check_a_logged_entry_its_evaluation_and_the_relay(
        self, admin: Client, db: Engine
    ) -> None:
        work = one_agreements_work(db, hours="0.25")
        agreement_id = int(work["agreementId"])
        # The first requests of a process may build what they keep (access.visible_row's statements).
        await admin.data(LOG_TIME, input=work)
        await admin.data(BALANCE_CHECK, id=work["agreementId"])

        with building() as built:
            logged = await admin.data(LOG_TIME, input=work)
            balance = await admin.data(BALANCE_CHECK, id=work["agreementId"])
        assert logged["logTime"]["unitsApplied"] == "0.25"
        assert balance["agreement"]["balance"]["unitsRemaining"] == "8.00"  # 8.50 bought, two 0.25 logged
        assert built == []

        with unit_of_work(db) as session:  # SENT: the app's own relay leaves it alone
            job = OutboxJob(
                actor=jobs.EVALUATE_BALANCE,
                args=json.dumps({"agreement_id": agreement_id, "time_entry_id": None}),
                status=JobStatus.SENT,
                sent_at=utcnow(),
            )
            session.add(job)
            session.flush()
            job_id = job.id
        with building() as built:
            with unit_of_work(db) as session:
                outbox.pending_jobs(session)  # whatever is PENDING now: the relay's pass
                unfinished = outbox.unfinished_jobs(session, sent_before=utcnow() + dt.timedelta(days=1))
                resent = [j for j in unfinished if j.id == job_id]
                assert len(resent) == 1
                outbox.mark_sent(session, resent)  # the re-send
            with unit_of_work(db) as session:
                assert outbox.start_job(session, job_id=job_id, actor=jobs.EVALUATE_BALANCE, worker="test")
            with unit_of_work(db) as session:
                assert outbox.claim_job(session, job_id=job_id, actor=jobs.EVALUATE_BALANCE)
                assert notifications.evaluate_balance(session, agreement_id=agreement_id) == []
        assert built == []
        with unit_of_work(db) as session:
            assert session.get_one(OutboxJob, job_id).status is JobStatus.DONE
