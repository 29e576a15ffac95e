"""The email activity: renders a template, resolves recipients and sends once.

- Templates live in `activities/email_templates/<template>.txt` (`string.Template`, `$name`). The
  first line is `Subject: ...`; a subject may only use `$case_ref`, so no child's name ever reaches
  a subject line (or a mail server's logs). Every body gets `$case_ref`; the other variables come
  from `EmailRequest.context` (see `required_variables`). A missing one is a non-retryable error.
- Idempotent: a `SentEmail` row per idempotency key; the Message-ID is derived from the key. Over
  SMTP the row is inserted just before the message is handed over (DATA) and committed the moment
  the server accepts it, before QUIT: a worker killed mid-send leaves either no delivery and no row
  (the retry sends) or both; only a crash in the instant between the server's "250" and the commit
  can still resend, and then with the same Message-ID. A second attempt running at the same time
  waits on the row and sends nothing.
- SMTP (aiosmtplib) when `smtp_host` is set; otherwise an `.eml` file in `outbox_dir`.
- Several recipients are never shown each other's addresses: they go in the envelope, the `To`
  header says `undisclosed-recipients:;`.
- Errors carry no addresses or content: Temporal stores failure messages in workflow histories.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import string
import tempfile
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiosmtplib
from icalendar import Calendar, Event, vCalAddress
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.email_models import CalendarInvite, EmailReceipt, EmailRequest, EmailTemplate, RecipientRole
from infra.logging import activity_logger, get_logger
from infra.settings import Settings
from readmodel.database import get_engine, is_unavailable, session_scope, unavailable_from
from readmodel.tables import SentEmail

_log = get_logger(__name__)

TEMPLATE_DIR = Path(__file__).parent / "email_templates"
SENDER_NAME = "Inclusion Service"
SMTP_TIMEOUT_SECONDS = 30.0
LOCAL_TIMEZONE = ZoneInfo("Europe/London")


# -- templates ----------------------------------------------------------------------------------


@cache
def _load_template(template: EmailTemplate) -> tuple[string.Template, string.Template]:
    text = (TEMPLATE_DIR / f"{template.value}.txt").read_text(encoding="utf-8")
    first, _, rest = text.partition("\n")
    if not first.startswith("Subject: "):
        raise ValueError(f"email template {template.value} must start with 'Subject: '")
    return string.Template(first.removeprefix("Subject: ").strip()), string.Template(rest.lstrip("\n"))


def required_variables(template: EmailTemplate) -> frozenset[str]:
    """The `context` keys a template needs (besides `case_ref`, which is always filled in)."""
    _, body = _load_template(template)
    return frozenset(body.get_identifiers()) - {"case_ref"}


def render(template: EmailTemplate, case_ref: str, context: dict[str, str]) -> tuple[str, str]:
    """Subject and body. Raises a non-retryable ApplicationError naming a missing variable."""
    subject_t, body_t = _load_template(template)
    try:
        subject = subject_t.substitute(case_ref=case_ref)
        body = body_t.substitute({**context, "case_ref": case_ref})
    except KeyError as exc:
        raise ApplicationError(
            f"email template {template.value} needs variable {exc.args[0]!r}",
            type="MissingTemplateVariable",
            non_retryable=True,
        ) from None
    except ValueError:
        raise ApplicationError(
            f"email template {template.value} has a malformed placeholder",
            type="BadEmailTemplate",
            non_retryable=True,
        ) from None
    return subject, body


# -- addresses, ids, calendar --------------------------------------------------------------------


def message_id_for(idempotency_key: str) -> str:
    return f"<{hashlib.sha256(idempotency_key.encode('utf-8')).hexdigest()[:32]}@casework>"


def outbox_file_for(outbox_dir: Path, message_id: str) -> Path:
    """Where the outbox keeps a message (retention erases it via `SentEmail.message_id`)."""
    return Path(outbox_dir) / f"{message_id.strip('<>').split('@', 1)[0]}.eml"


def resolve_recipients(request: EmailRequest, settings: Settings) -> list[str]:
    addresses: list[str] = []
    for recipient in request.recipients:
        match recipient.role:
            case RecipientRole.PARENT | RecipientRole.PROFESSIONAL:
                address = recipient.address
            case RecipientRole.OFFICER:
                address = f"{recipient.ref}@{settings.officer_mail_domain}" if recipient.ref else None
            case RecipientRole.SUPERVISORS:
                address = str(settings.supervisor_mailbox)
            case RecipientRole.SCHOOL:
                ref = recipient.ref
                address = settings.school_mailbox_template.format(urn=ref) if ref else None
        if address and address.lower() not in (a.lower() for a in addresses):
            addresses.append(str(address))
    return addresses


def build_ics(invite: CalendarInvite, organizer: str) -> str:
    starts = invite.starts_at
    if starts.tzinfo is None:
        starts = starts.replace(tzinfo=LOCAL_TIMEZONE)
    starts = starts.astimezone(UTC)
    cal = Calendar()
    cal.add("prodid", "-//Inclusion Service//casework//EN")
    cal.add("version", "2.0")
    cal.add("method", "REQUEST")
    event = Event()
    event.add("uid", invite.uid)
    event.add("dtstamp", datetime.now(UTC))
    event.add("dtstart", starts)
    event.add("dtend", starts + timedelta(minutes=invite.duration_minutes))
    event.add("summary", invite.summary)
    event.add("location", invite.location)
    event.add("sequence", 0)
    org = vCalAddress(f"mailto:{organizer}")
    org.params["cn"] = SENDER_NAME
    event["organizer"] = org
    cal.add_component(event)
    return cal.to_ical().decode("utf-8")


def build_message(
    request: EmailRequest, settings: Settings, addresses: list[str], message_id: str
) -> EmailMessage:
    subject, body = render(request.template, request.case_ref, request.context)
    msg = EmailMessage()
    msg["From"] = formataddr((SENDER_NAME, str(settings.mail_from)))
    msg["To"] = addresses[0] if len(addresses) == 1 else "undisclosed-recipients:;"
    msg["Subject"] = subject
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Casework-Case-Ref"] = request.case_ref
    msg["X-Casework-Template"] = request.template.value
    msg.set_content(body)
    if request.invite is not None:
        msg.add_attachment(
            build_ics(request.invite, str(settings.mail_from)),
            subtype="calendar",
            params={"method": "REQUEST"},
            filename="invite.ics",
        )
    return msg


# -- database -----------------------------------------------------------------------------------


class _AlreadyRecorded(Exception):
    """Another attempt recorded this message while this one was about to hand it over."""


class _SendRecord:
    """The `SentEmail` row of a message going out over SMTP: `claim` inserts it (uncommitted, so a
    concurrent attempt waits on it), `commit` makes it durable, `abandon` rolls it back."""

    def __init__(self, engine: Engine, row: SentEmail) -> None:
        self.engine = engine
        self.row = row
        self.session: Session | None = None

    def claim(self) -> None:
        self.session = Session(self.engine, expire_on_commit=False)
        self.session.add(self.row)
        try:
            self.session.flush()
        except IntegrityError:
            self.abandon()
            raise _AlreadyRecorded() from None
        except Exception as exc:
            self._fail(exc)

    def commit(self) -> None:
        if self.session is not None:
            try:
                self.session.commit()
            except Exception as exc:
                self._fail(exc)
            self.session.close()
            self.session = None

    def _fail(self, exc: Exception) -> None:
        self.abandon()
        if is_unavailable(exc):
            raise unavailable_from(exc, self.engine) from exc  # Temporal retries
        raise exc

    def abandon(self) -> None:
        if self.session is not None:
            try:
                self.session.rollback()
                self.session.close()
            except Exception:  # noqa: BLE001, S110 - the connection may be gone; the first error matters
                pass
            self.session = None


class _RecordingSMTP(aiosmtplib.SMTP):
    """An SMTP client that claims the message's row just before DATA and commits it as soon as the
    server has accepted the message (before QUIT)."""

    record: _SendRecord

    async def data(self, message: str | bytes, /, **kwargs: Any) -> aiosmtplib.SMTPResponse:
        await asyncio.to_thread(self.record.claim)  # may wait for another writer: off the event loop
        response = await super().data(message, **kwargs)
        # Committed right here, without a hop to a thread pool (where it could queue behind claims
        # waiting for the very lock this transaction holds): the row is already written, so this is
        # short, and every millisecond between the server's acceptance and the commit is one in which
        # a crash would send the message again.
        self.record.commit()
        return response


# -- the activity -------------------------------------------------------------------------------


class EmailActivities:
    def __init__(self, settings: Settings, *, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine if engine is not None else get_engine(settings.database_url)

    @activity.defn
    async def send_email(self, request: EmailRequest) -> EmailReceipt:
        message_id = message_id_for(request.idempotency_key)
        log = activity_logger(
            case_ref=request.case_ref, template=request.template.value, message_id=message_id
        )

        previous = await asyncio.to_thread(self._find_sent, request.idempotency_key)
        if previous is not None:
            log.info("email_already_sent", via=previous.via)
            return EmailReceipt(message_id=previous.message_id, via=previous.via, already_sent=True)

        addresses = resolve_recipients(request, self.settings)
        if not addresses:
            render(request.template, request.case_ref, request.context)  # a broken template still surfaces
            log.info("email_skipped", via="skipped", reason="no recipient address")
            return EmailReceipt(message_id=message_id, via="skipped")
        msg = build_message(request, self.settings, addresses, message_id)

        if self.settings.smtp_host:
            record = _SendRecord(self.engine, self._sent_row(request, message_id, "smtp"))
            try:
                await self._send_smtp(msg, addresses, record)
            except _AlreadyRecorded:
                log.info("email_already_sent", via="smtp")
                return EmailReceipt(message_id=message_id, via="smtp", already_sent=True)
            finally:
                await asyncio.to_thread(record.abandon)  # a no-op once committed
            via = "smtp"
        else:
            await asyncio.to_thread(self._write_outbox, msg, addresses, message_id)
            via = "outbox"
            await asyncio.to_thread(self._record_sent, request, message_id, via)

        log.info("email_sent", via=via)
        return EmailReceipt(message_id=message_id, via=via)

    async def _send_smtp(self, msg: EmailMessage, addresses: list[str], record: _SendRecord) -> None:
        s = self.settings
        client = _RecordingSMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            start_tls=s.smtp_starttls,
            timeout=SMTP_TIMEOUT_SECONDS,
        )
        client.record = record
        try:
            async with client:
                errors, _ = await client.send_message(msg, sender=str(s.mail_from), recipients=addresses)
        except aiosmtplib.SMTPRecipientsRefused:
            raise ApplicationError(
                "the mail server refused every recipient", type="SmtpRecipientsRefused", non_retryable=True
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            # Retryable: a misconfiguration or outage is fixed by people, then the retry succeeds.
            raise ApplicationError(
                f"mail server answered {exc.code} ({type(exc).__name__})", type="SmtpError"
            ) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise ApplicationError(
                f"mail server unavailable ({type(exc).__name__})", type="SmtpUnavailable"
            ) from None
        if errors:
            _log.warning("email_some_recipients_refused", refused=len(errors), message_id=msg["Message-ID"])

    def _write_outbox(self, msg: EmailMessage, addresses: list[str], message_id: str) -> None:
        outbox = Path(self.settings.outbox_dir)
        outbox.mkdir(parents=True, exist_ok=True)
        # The outbox stands in for delivery: show who it was for.
        msg["X-Casework-Envelope-To"] = ", ".join(addresses)
        target = outbox_file_for(outbox, message_id)
        fd, tmp_name = tempfile.mkstemp(dir=outbox, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(msg.as_bytes())
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

    def _find_sent(self, idempotency_key: str) -> SentEmail | None:
        with session_scope(self.engine) as session:
            return session.get(SentEmail, idempotency_key)

    @staticmethod
    def _sent_row(request: EmailRequest, message_id: str, via: str) -> SentEmail:
        return SentEmail(
            idempotency_key=request.idempotency_key,
            case_ref=request.case_ref,
            template=request.template.value,
            message_id=message_id,
            via=via,
            sent_at=datetime.now(UTC),
        )

    def _record_sent(self, request: EmailRequest, message_id: str, via: str) -> None:
        row = self._sent_row(request, message_id, via)
        try:
            with session_scope(self.engine) as session:
                session.add(row)
        except IntegrityError:
            pass  # a concurrent duplicate recorded it first: it is the same message
