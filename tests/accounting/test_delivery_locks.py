"""SPEC §10: two channels of one notification sent side by side both end SENT, with no
deadlock (a deadlock rolls back a delivery whose e-mail already went, and the retry
sends it twice: CI saw exactly that)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from accounting import notifications
from models import Notification, NotificationDelivery
from models.db import unit_of_work
from models.enums import DeliveryChannel, DeliveryStatus, NotificationKind
from testkit import factories
from tests.conftest import postgres_engine

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg(engine: Engine) -> Iterator[Engine]:
    """Row locks are PostgreSQL's (SQLite has one write lock)."""
    with postgres_engine(engine, "blocktime_locks") as pg_engine:
        yield pg_engine


def _two_channels(engine: Engine) -> tuple[int, int, int]:
    with unit_of_work(engine) as session:
        rates = factories.rates(session)
        agreement = factories.agreement(
            session, agreement_type=factories.block_time_type(session, rates=rates)
        )
        notification = Notification(
            agreement_id=agreement.id,
            kind=NotificationKind.LOW_BALANCE,
            units_remaining=Decimal("1.50"),
            dedupe_key=f"LOW_BALANCE:{agreement.id}:1",
        )
        session.add(notification)
        session.flush()
        ids = []
        for address in ("am@msp.example", "billing@acme.example"):
            delivery = NotificationDelivery(
                notification_id=notification.id,
                channel=f"email:{address}",
                kind=DeliveryChannel.EMAIL,
                target=address,
            )
            session.add(delivery)
            session.flush()
            ids.append(delivery.id)
        return notification.id, ids[0], ids[1]


def _claim(session: Session, delivery_id: int) -> None:
    assert notifications.claim_delivery(session, delivery_id=delivery_id) is not None
    session.flush()


class TestSideBySide:
    def test_a_delivery_marked_sent_while_another_transaction_references_the_notification_does_not_deadlock(
        self, pg: Engine
    ) -> None:
        notification_id, first, second = _two_channels(pg)
        errors: list[BaseException] = []

        with unit_of_work(pg) as other:
            _claim(other, second)
            # A second change to a row this transaction already changed makes PostgreSQL's
            # foreign-key check take FOR KEY SHARE on the notification, as inserting a
            # delivery does: the state the other sender is in halfway through its update.
            other.get_one(NotificationDelivery, second).last_error = "sending"
            other.flush()

            def send_first() -> None:
                try:
                    with unit_of_work(pg) as session:
                        _claim(session, first)
                        notifications.mark_delivered(session, delivery_id=first)
                except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                    errors.append(exc)

            sender = threading.Thread(target=send_first)
            sender.start()
            time.sleep(
                0.5
            )  # let the first sender reach the notification's lock (ordering, not a timed assert)
            notifications.mark_delivered(other, delivery_id=second)
        sender.join(timeout=30)

        assert errors == []
        with unit_of_work(pg) as session:
            statuses = session.scalars(
                select(NotificationDelivery.status).where(
                    NotificationDelivery.notification_id == notification_id
                )
            ).all()
            assert statuses == [DeliveryStatus.SENT, DeliveryStatus.SENT]
            assert session.get_one(Notification, notification_id).delivered_at is not None
