"""Outbox mode (no SMTP host): a readable .eml per message, once, and it takes over a message an
SMTP attempt only claimed."""

import email
from email import policy

from temporalio.testing import ActivityEnvironment

from activities.email import EmailActivities, outbox_file_for
from readmodel.database import session_scope
from readmodel.tables import SentEmail
from tests.email_activities.mail_support import (
    CASE,
    PARENT,
    body_of,
    left_by_a_dead_attempt,
    make_settings,
    review_invitation,
)


async def test_outbox_mode_writes_a_readable_eml(tmp_path, engine):
    settings = make_settings(tmp_path)  # no smtp_host
    activities = EmailActivities(settings, engine=engine)
    env = ActivityEnvironment()
    receipt = await env.run(activities.send_email, review_invitation("outbox-1"))
    assert receipt.via == "outbox"
    path = outbox_file_for(settings.outbox_dir, receipt.message_id)
    assert path.parent == settings.outbox_dir and path.suffix == ".eml"
    assert [p.name for p in settings.outbox_dir.iterdir()] == [path.name]  # no temporary leftovers

    text = path.read_text(encoding="utf-8")
    assert f"Subject: Case {CASE}: invitation to a Team Around School review" in text
    message = email.message_from_string(text, policy=policy.default)
    assert "Wednesday 12 November 2025" in body_of(message)
    assert PARENT in str(message["X-Casework-Envelope-To"])
    assert any(p.get_content_type() == "text/calendar" for p in message.iter_attachments())

    again = await env.run(activities.send_email, review_invitation("outbox-1"))
    assert again.already_sent and again.via == "outbox"
    assert len(list(settings.outbox_dir.iterdir())) == 1


async def test_outbox_mode_takes_over_a_message_an_smtp_attempt_only_claimed(tmp_path, engine):
    """The mail settings changed between attempts: the outbox delivers it and the record says so."""
    left_by_a_dead_attempt(engine, "switched-1", "claimed", seconds_ago=60)
    activities = EmailActivities(make_settings(tmp_path), engine=engine)  # no smtp_host: the outbox
    receipt = await ActivityEnvironment().run(activities.send_email, review_invitation("switched-1"))
    assert receipt.via == "outbox" and not receipt.already_sent
    with session_scope(engine) as session:
        row = session.get(SentEmail, "switched-1")
        assert (row.status, row.via) == ("sent", "outbox") and row.sent_at is not None
