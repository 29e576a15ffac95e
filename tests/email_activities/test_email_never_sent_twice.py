"""Never twice: what a retry finds after an attempt died, was refused, lost its connection or
raced another attempt; a message that may have reached the server is never sent again; and a
slow mail server holds no database lock."""

import asyncio
import threading
import time
from contextlib import contextmanager

import pytest
from aiosmtpd.controller import Controller
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.email import HANDOVER_SETTLES_AFTER, EmailActivities, _Delivery, _Superseded, message_id_for
from tests.email_activities.mail_support import (
    PARENT,
    CollectingHandler,
    left_by_a_dead_attempt,
    make_settings,
    review_invitation,
    status_of,
)
from tests.support import free_port


async def test_a_message_claimed_by_a_dead_attempt_that_never_reached_the_server_is_sent(
    smtp_server, smtp_activities, engine
):
    _, handler = smtp_server
    left_by_a_dead_attempt(engine, "dead-1", "claimed", seconds_ago=31)
    receipt = await ActivityEnvironment().run(smtp_activities.send_email, review_invitation("dead-1"))
    assert not receipt.already_sent and len(handler.messages) == 1
    assert status_of(engine, "dead-1") == "sent"


async def test_a_message_a_dead_attempt_was_handing_over_is_never_sent_again(
    smtp_server, smtp_activities, engine
):
    _, handler = smtp_server
    left_by_a_dead_attempt(
        engine, "dead-2", "handing_over", seconds_ago=HANDOVER_SETTLES_AFTER.total_seconds() + 1
    )
    with pytest.raises(ApplicationError) as info:
        await ActivityEnvironment().run(smtp_activities.send_email, review_invitation("dead-2"))
    # Non-retryable: the case raises it for a person, who can ask the recipients.
    assert info.value.type == "EmailDeliveryUnconfirmed" and info.value.non_retryable
    assert message_id_for("dead-2") in str(info.value) and PARENT not in str(info.value)
    assert handler.messages == []
    assert status_of(engine, "dead-2") == "handing_over"


async def test_a_hand_over_that_may_still_be_running_is_waited_for_not_repeated(
    smtp_server, smtp_activities, engine
):
    _, handler = smtp_server
    left_by_a_dead_attempt(engine, "busy-1", "handing_over", seconds_ago=1)
    with pytest.raises(ApplicationError) as info:
        await ActivityEnvironment().run(smtp_activities.send_email, review_invitation("busy-1"))
    assert info.value.type == "EmailHandoverInProgress" and not info.value.non_retryable
    assert handler.messages == []


@contextmanager
def mail_server(handler, tmp_path, engine):
    """The email activities pointed at a real SMTP server that answers with `handler`."""
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield EmailActivities(
            make_settings(tmp_path, smtp_host="127.0.0.1", smtp_port=controller.port), engine=engine
        )
    finally:
        controller.stop()


class RefusingOnceHandler(CollectingHandler):
    """Refuses the first message with a reply (so nothing is delivered), accepts the rest."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        if self.refused == 0:
            self.refused += 1
            return "451 Try again later"
        return await super().handle_DATA(server, session, envelope)


async def test_a_message_the_server_refused_is_sent_by_the_retry(tmp_path, engine):
    handler = RefusingOnceHandler()
    with mail_server(handler, tmp_path, engine) as activities:
        with pytest.raises(ApplicationError) as info:
            await ActivityEnvironment().run(activities.send_email, review_invitation("refused-1"))
        assert info.value.type == "SmtpError" and not info.value.non_retryable
        assert status_of(engine, "refused-1") == "claimed"
        await ActivityEnvironment().run(activities.send_email, review_invitation("refused-1"))
    assert handler.refused == 1 and len(handler.messages) == 1
    assert status_of(engine, "refused-1") == "sent"


class HangingUpHandler(CollectingHandler):
    """Reads the whole message, then drops the connection without a reply."""

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        await super().handle_DATA(server, session, envelope)
        server.transport.close()
        return "250 never seen by the client"


async def test_a_connection_lost_during_data_is_reported_unconfirmed_not_resent(tmp_path, engine):
    handler = HangingUpHandler()
    with mail_server(handler, tmp_path, engine) as activities:
        with pytest.raises(ApplicationError) as info:
            await ActivityEnvironment().run(activities.send_email, review_invitation("hangup-1"))
    assert info.value.type == "EmailDeliveryUnconfirmed" and info.value.non_retryable
    assert len(handler.messages) == 1  # the server did have it: sending it again would be a duplicate
    assert status_of(engine, "hangup-1") == "handing_over"


async def test_of_two_attempts_side_by_side_only_one_hands_the_message_over(engine):
    row = EmailActivities._sent_row(review_invitation("race-1"), message_id_for("race-1"), "smtp")
    timed_out, retry = _Delivery(engine, row), _Delivery(engine, row)
    assert await asyncio.to_thread(timed_out.claim) is None
    assert await asyncio.to_thread(retry.claim) is None  # the first never reached the server: taken over
    with pytest.raises(_Superseded):
        await asyncio.to_thread(timed_out.hand_over)
    await asyncio.to_thread(retry.hand_over)
    await asyncio.to_thread(retry.sent)
    assert status_of(engine, "race-1") == "sent"


class SlowHandler(CollectingHandler):
    def __init__(self) -> None:
        super().__init__()
        self.receiving = threading.Event()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.receiving.set()
        # The slowness is what is under test (a relay taking its time over DATA), not a wait for
        # something: the test's other write must go through while this sleep runs.
        await asyncio.sleep(2)
        return await super().handle_DATA(server, session, envelope)


async def test_a_slow_mail_server_holds_no_database_lock(tmp_path, engine):
    """SQLite allows one writer: while a slow relay reads a message, other writes must still go."""
    handler = SlowHandler()
    with mail_server(handler, tmp_path, engine) as activities:
        sending = asyncio.create_task(
            ActivityEnvironment().run(activities.send_email, review_invitation("slow-1"))
        )
        assert await asyncio.to_thread(handler.receiving.wait, 10)
        assert status_of(engine, "slow-1") == "handing_over"
        started = time.monotonic()
        await asyncio.to_thread(left_by_a_dead_attempt, engine, "other-write", "sent", 0)
        waited = time.monotonic() - started
        await sending
    assert waited < 1.0, f"a write waited {waited:.2f} s for the mail server"
    assert len(handler.messages) == 1 and status_of(engine, "slow-1") == "sent"
