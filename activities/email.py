"""The email activity: renders a template, resolves recipients and sends once.

- Templates live in `activities/email_templates/<template>.txt` (`string.Template`, `$name`). The
  first line is `Subject: ...`; a subject may only use `$case_ref`, so no child's name ever reaches
  a subject line (or a mail server's logs). Every body gets `$case_ref`; the other variables come
  from `EmailRequest.context` (see `required_variables`). A missing one is a non-retryable error.
- Never twice: a `SentEmail` row per idempotency key (the Message-ID is derived from the key) records
  how far the message got, each step in its own short transaction: `claimed`, then `handing_over`
  (committed just before DATA), then `sent` (just after the server's "250"). A retry after a worker
  died sends a message that never reached the server, finds a sent one and sends nothing, and finds
  one left `handing_over` unknowable: SMTP cannot tell whether the server took it, so it is not sent
  again but reported as a non-retryable `EmailDeliveryUnconfirmed`, which the case raises as an
  alert for a person to check. The same holds when the connection breaks during DATA. A refusal
  with a reply means nothing was delivered: the claim goes back to `claimed` and a retry sends.
  Attempts running side by side (a timed-out one and its retry) settle by compare-and-set on the
  row, so only one of them can ever hand the message over.
- SMTP (aiosmtplib) when `smtp_host` is set; otherwise an `.eml` file in `outbox_dir`.
- Several recipients are never shown each other's addresses: they go in the envelope, the `To`
  header says `undisclosed-recipients:;`. A meeting's calendar invitation is the exception RFC 5546
  makes: it lists everyone invited (parent, school, officer: the case's own team) as ATTENDEEs.
- Settings fill in what a letter quotes about the council (`activities/mail_directory.py`): the named
  officer's name and contact details from the officer directory, and the complaints route.
- Errors carry no addresses or content: Temporal stores failure messages in workflow histories.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import string
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from email.charset import QP, Charset
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate
from functools import cache
from pathlib import Path
from typing import Any

import aiosmtplib
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.email_calendar import SENDER_NAME, build_ics
from activities.mail_directory import address_of, display_name_of, filled_context
from domain.email_models import EmailReceipt, EmailRequest, EmailTemplate
from infra.logging import activity_logger, get_logger
from infra.settings import Settings
from readmodel.database import get_engine, is_unavailable, session_scope
from readmodel.tables import SentEmail

_log = get_logger(__name__)

TEMPLATE_DIR = Path(__file__).parent / "email_templates"
SMTP_TIMEOUT_SECONDS = 30.0


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
    return [address for address, _ in _people(request, settings)]


def _people(request: EmailRequest, settings: Settings) -> list[tuple[str, str | None]]:
    """Each recipient's address (once) and name, in order."""
    people: list[tuple[str, str | None]] = []
    for recipient in request.recipients:
        address = address_of(recipient, settings)
        if address and address.lower() not in (a.lower() for a, _ in people):
            people.append((str(address), display_name_of(recipient, request, settings)))
    return people


# Bodies in quoted-printable: plain ASCII stays readable in the raw message (and the outbox files),
# anything else (a child's name with an accent) is encoded.
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP


def build_message(request: EmailRequest, settings: Settings, addresses: list[str], message_id: str) -> Message:
    """The MIME message: a plain-text body, plus the calendar invitation when there is one.

    Built with the classic `email.mime` classes: the `EmailMessage` API re-parses every header it is
    given, which made building a message cost milliseconds of the worker's time."""
    subject, body = render(request.template, request.case_ref, filled_context(request, settings))
    text = MIMEText(body, "plain", _UTF8_QP)
    msg: Message = text
    if request.invite is not None:
        msg = MIMEMultipart("mixed")
        msg.attach(text)
        ics = build_ics(request.invite, str(settings.mail_from), _people(request, settings))
        invite = MIMEText(ics, "calendar", _UTF8_QP)
        invite.set_param("method", request.invite.method)
        invite.add_header("Content-Disposition", "attachment", filename="invite.ics")
        msg.attach(invite)
    msg["From"] = formataddr((SENDER_NAME, str(settings.mail_from)))
    msg["To"] = addresses[0] if len(addresses) == 1 else "undisclosed-recipients:;"
    msg["Subject"] = subject
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Casework-Case-Ref"] = request.case_ref
    msg["X-Casework-Template"] = request.template.value
    return msg


# -- database -----------------------------------------------------------------------------------

CLAIMED, HANDING_OVER, SENT = "claimed", "handing_over", "sent"
_INSERT_SENT_EMAIL = SentEmail.__table__.insert()
# A message has been "handing over" this long only if the attempt doing it has died: every read and
# write of that attempt's SMTP conversation times out sooner.
HANDOVER_SETTLES_AFTER = timedelta(seconds=SMTP_TIMEOUT_SECONDS + 15)
# After the server's "250" the record is retried this long before the outcome is called unconfirmed.
_RECORD_SENT_DELAYS = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


class _Superseded(Exception):
    """A later attempt took the message over before this one started handing it to the server."""


class _HandoverUnconfirmed(Exception):
    """The message was being handed over when the conversation broke: it may or may not have gone."""


def _unconfirmed(message_id: str, why: str) -> ApplicationError:
    return ApplicationError(
        f"delivery of {message_id} could not be confirmed ({why}); it was not sent again, so that "
        "nobody receives it twice: check with the recipients",
        type="EmailDeliveryUnconfirmed",
        non_retryable=True,
    )


class _Delivery:
    """The `SentEmail` row of one message, moved along by one attempt to send it over SMTP.

    Every step is its own short transaction (no lock is held while the mail server reads the message)
    and a compare-and-set on the row's status and attempt token, so that at most one attempt ever
    hands the message to the server, even when a timed-out attempt is still running beside its retry:
    `claim` (insert, or take over a claim that never got as far as the server), `hand_over` (just
    before DATA), then `sent` (just after the server's "250"), or `release` (the server refused it)."""

    def __init__(self, engine: Engine, row: SentEmail) -> None:
        self.engine = engine
        self.row = row
        self.key = row.idempotency_key
        self.token = uuid.uuid4().hex

    def claim(self) -> SentEmail | None:
        """Claim the message for this attempt (None), or the row of a message already sent. Raises
        when an earlier attempt was handing it over: retryable while that attempt may still be alive,
        then non-retryable (unconfirmed) for good."""
        for _ in range(5):
            now = datetime.now(UTC)
            try:
                with session_scope(self.engine) as session:
                    claimed = {**self.row.model_dump(), "status": CLAIMED, "attempt_token": self.token,
                               "status_changed_at": now, "sent_at": None}
                    session.connection().execute(_INSERT_SENT_EMAIL, claimed)
                return None
            except IntegrityError:
                pass  # the message has a row already: see how far it got
            with session_scope(self.engine) as session:
                row = session.get(SentEmail, self.key)
                if row is None:
                    continue  # erased in between: insert again
                if row.status == SENT:
                    return row
                if row.status == HANDING_OVER:
                    since = _utc(row.status_changed_at or now)
                    if now - since < HANDOVER_SETTLES_AFTER:
                        raise ApplicationError(
                            "an earlier attempt is handing this message to the mail server",
                            type="EmailHandoverInProgress",
                        )
                    raise _unconfirmed(
                        row.message_id, "an earlier attempt stopped while the mail server was receiving it"
                    )
                if self._move(session, frm=CLAIMED, to=CLAIMED, token=row.attempt_token, now=now):
                    return None  # an attempt that never reached the server: this one sends instead
        raise ApplicationError(
            "the message's record kept changing under concurrent attempts", type="EmailClaimContended"
        )

    def hand_over(self) -> None:
        with session_scope(self.engine) as session:
            if not self._move(session, frm=CLAIMED, to=HANDING_OVER, token=self.token):
                raise _Superseded()

    def release(self) -> None:
        with session_scope(self.engine) as session:
            self._move(session, frm=HANDING_OVER, to=CLAIMED, token=self.token)

    def sent(self) -> None:
        with session_scope(self.engine) as session:
            self._move(session, frm=HANDING_OVER, to=SENT, token=self.token)

    def _move(
        self, session: Session, *, frm: str, to: str, token: str | None, now: datetime | None = None
    ) -> bool:
        now = now or datetime.now(UTC)
        values: dict[str, Any] = {"status": to, "attempt_token": self.token, "status_changed_at": now}
        if to == SENT:
            values["sent_at"] = now
        statement = (
            update(SentEmail)
            .where(
                SentEmail.idempotency_key == self.key,
                SentEmail.status == frm,
                SentEmail.attempt_token == token,
            )
            .values(**values)
        )
        return session.execute(statement).rowcount == 1


class _RecordingSMTP(aiosmtplib.SMTP):
    """An SMTP client that records the hand-over of its message around DATA (see `_Delivery`)."""

    delivery: _Delivery

    async def data(self, message: str | bytes, /, **kwargs: Any) -> aiosmtplib.SMTPResponse:
        await asyncio.to_thread(self.delivery.hand_over)
        try:
            response = await super().data(message, **kwargs)
        except aiosmtplib.SMTPResponseException:
            await asyncio.to_thread(self.delivery.release)  # refused with a reply: nothing was delivered
            raise
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise _HandoverUnconfirmed() from exc  # no reply: the server may have taken it
        await self._record_sent()
        return response

    async def _record_sent(self) -> None:
        """The server has the message: record it, riding out a brief database outage."""
        for delay in (*_RECORD_SENT_DELAYS, None):
            try:
                await asyncio.to_thread(self.delivery.sent)
                return
            except Exception as exc:
                if delay is None or not is_unavailable(exc):
                    raise _HandoverUnconfirmed() from exc
                await asyncio.sleep(delay)


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
            render(request.template, request.case_ref, filled_context(request, self.settings))  # a broken template still surfaces
            log.info("email_skipped", via="skipped", reason="no recipient address")
            return EmailReceipt(message_id=message_id, via="skipped")
        msg = build_message(request, self.settings, addresses, message_id)

        if self.settings.smtp_host:
            delivery = _Delivery(self.engine, self._sent_row(request, message_id, "smtp"))
            previous = await asyncio.to_thread(delivery.claim)
            if previous is not None:
                log.info("email_already_sent", via=previous.via)
                return EmailReceipt(message_id=previous.message_id, via=previous.via, already_sent=True)
            try:
                await self._send_smtp(msg, addresses, delivery)
            except _Superseded:
                log.info("email_taken_over_by_a_later_attempt")
                raise ApplicationError(
                    "a later attempt took this message over", type="EmailSuperseded"
                ) from None
            except _HandoverUnconfirmed:
                log.warning("email_delivery_unconfirmed")
                raise _unconfirmed(
                    message_id, "the mail server stopped answering while it was receiving it"
                ) from None
            via = "smtp"
        else:
            via = "outbox"
            await asyncio.to_thread(self._deliver_to_outbox, request, msg, addresses, message_id)

        log.info("email_sent", via=via)
        return EmailReceipt(message_id=message_id, via=via)

    async def _send_smtp(self, msg: Message, addresses: list[str], delivery: _Delivery) -> None:
        s = self.settings
        client = _RecordingSMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            start_tls=s.smtp_starttls,
            timeout=SMTP_TIMEOUT_SECONDS,
        )
        client.delivery = delivery
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

    def _deliver_to_outbox(self, request: EmailRequest, msg: Message, addresses: list[str], message_id: str) -> None:
        """Write the message to the outbox, then record it sent (one hop to a thread for both)."""
        self._write_outbox(msg, addresses, message_id)
        self._record_sent(request, message_id, "outbox")

    def _write_outbox(self, msg: Message, addresses: list[str], message_id: str) -> None:
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
            row = session.get(SentEmail, idempotency_key)
            return row if row is not None and row.status == SENT else None

    @staticmethod
    def _sent_row(request: EmailRequest, message_id: str, via: str) -> SentEmail:
        now = datetime.now(UTC)
        return SentEmail(
            idempotency_key=request.idempotency_key,
            case_ref=request.case_ref,
            template=request.template.value,
            message_id=message_id,
            via=via,
            status=SENT,
            status_changed_at=now,
            sent_at=now,
        )

    def _record_sent(self, request: EmailRequest, message_id: str, via: str) -> None:
        row = self._sent_row(request, message_id, via).model_dump()
        try:
            with session_scope(self.engine) as session:
                session.connection().execute(_INSERT_SENT_EMAIL, row)
        except IntegrityError:  # a row already (a concurrent attempt, or one in SMTP mode): it is sent now
            with session_scope(self.engine) as session:
                session.connection().execute(
                    update(SentEmail).where(SentEmail.idempotency_key == row["idempotency_key"]).values(
                        status=SENT, via=via, status_changed_at=row["status_changed_at"], sent_at=row["sent_at"]
                    )
                )
