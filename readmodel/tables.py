"""The SQL read model the API lists from. The workflow is the source of truth; these rows are
projections of it (plus the few things only the API owns: access keys, access records, idempotency).

Personal data (names, dates of birth, contact details, health notes) is never stored in the clear:
`CaseRow.personal` holds it encrypted with the service's keyring. Lists need none of it."""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Column, Numeric, UniqueConstraint
from sqlmodel import Field, SQLModel


class CaseRow(SQLModel, table=True):
    __tablename__ = "cases"

    case_ref: str = Field(primary_key=True, max_length=20)
    version: int = Field(default=0, description="Projection version; older projections are ignored")
    school_urn: str = Field(index=True, max_length=6)
    stage: str = Field(index=True, max_length=32)
    officer: str | None = Field(default=None, index=True, max_length=64)
    opened_at: datetime
    first_day_of_absence: date
    threshold_date: date | None = None
    provision_started_on: date | None = None
    next_deadline: date | None = Field(default=None, index=True)
    overdue: bool = Field(default=False, index=True)
    stalled: bool = Field(default=False, index=True)
    last_progress_on: date
    provision_kinds: str = Field(default="", description="Comma-separated provision kinds running now")
    close_outcome: str | None = None
    closed_on: date | None = None
    child_key: str = Field(index=True, max_length=64, description="Keyed hash of child+school for de-duplication")
    personal: bytes = Field(description="Encrypted JSON: child, parent, health summary, notes")
    retain_until: date | None = Field(default=None, description="Erase after this date once closed")
    updated_at: datetime


class TimelineRow(SQLModel, table=True):
    __tablename__ = "timeline_events"

    case_ref: str = Field(primary_key=True, max_length=20)
    seq: int = Field(primary_key=True)
    at: datetime = Field(index=True)
    actor_role: str = Field(max_length=20)
    actor_name: str = Field(max_length=100)
    action: str = Field(max_length=64)
    summary: str = Field(max_length=500)


class TaskRow(SQLModel, table=True):
    __tablename__ = "tasks"

    case_ref: str = Field(primary_key=True, max_length=20)
    task_id: str = Field(primary_key=True, max_length=100)
    school_urn: str = Field(index=True, max_length=6)
    kind: str = Field(max_length=40)
    description: str = Field(max_length=500)
    assignee_role: str = Field(index=True, max_length=20)
    assignee: str | None = Field(default=None, index=True, max_length=64)
    due_on: date = Field(index=True)
    overdue: bool = Field(default=False, index=True)
    escalated: bool = False


class LedgerEntry(SQLModel, table=True):
    """A recoupment charge to a school. The idempotency key makes a retried posting a no-op."""

    __tablename__ = "ledger_entries"

    idempotency_key: str = Field(primary_key=True, max_length=200)
    case_ref: str = Field(index=True, max_length=20)
    school_urn: str = Field(index=True, max_length=6)
    period: str = Field(index=True, max_length=40)
    from_date: date
    to_date: date
    school_days: int
    key_stage: str = Field(max_length=10)
    amount: Decimal = Field(sa_column=Column(Numeric(12, 2), nullable=False))
    posted_at: datetime


class SentEmail(SQLModel, table=True):
    """One outgoing message and how far it got (`activities/email.py`): a retried activity finds it
    here and never hands the message to the mail server a second time.

    `status`: `claimed` (an attempt is about to send; nothing handed over yet), `handing_over` (the
    message is being given to the mail server: if that attempt died, nobody knows whether it went,
    so it is not sent again but raised on the case), `sent` (accepted, or written to the outbox)."""

    __tablename__ = "sent_emails"

    idempotency_key: str = Field(primary_key=True, max_length=200)
    case_ref: str = Field(index=True, max_length=20)
    template: str = Field(max_length=40)
    message_id: str = Field(max_length=200)
    via: str = Field(max_length=10, description="smtp or outbox")
    status: str = Field(default="sent", max_length=16, sa_column_kwargs={"server_default": "sent"})
    attempt_token: str | None = Field(default=None, max_length=40, description="The attempt holding the claim")
    status_changed_at: datetime | None = None
    sent_at: datetime | None = Field(default=None, description="When the mail server (or outbox) took it")


class DocumentRow(SQLModel, table=True):
    """Metadata of a stored document; the bytes live encrypted in document storage."""

    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("case_ref", "doc_ref"),)

    id: int | None = Field(default=None, primary_key=True)
    doc_ref: str = Field(index=True, max_length=80)
    case_ref: str = Field(index=True, max_length=20)
    content_type: str = Field(max_length=100)
    size_bytes: int
    kind: str = Field(max_length=40)
    stored_by: str = Field(max_length=100)
    stored_at: datetime


class ApiKey(SQLModel, table=True):
    """A bearer token, stored only as its SHA-256 hash."""

    __tablename__ = "api_keys"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=100)
    role: str = Field(max_length=20)
    school_urns: str = Field(default="", description="Comma-separated URNs a school key may see")
    token_hash: str = Field(index=True, unique=True, max_length=64)
    created_at: datetime
    revoked_at: datetime | None = None


class IdempotencyRecord(SQLModel, table=True):
    """An `Idempotency-Key`: of a POST /cases (the key itself), so a repeated notification finds the case
    it opened; or of a command (`command:<keyed hash>`), so the key is not reused for another body."""

    __tablename__ = "idempotency_keys"

    key: str = Field(primary_key=True, max_length=200)
    api_key_name: str = Field(primary_key=True, max_length=100)
    case_ref: str = Field(max_length=20)
    created_at: datetime
    #: Keyed hash of the request the key was first used for (None for keys stored before revision 0004).
    request_hash: str | None = Field(default=None, max_length=64)


class AccessRecord(SQLModel, table=True):
    """Who read a case's health data or documents, and when."""

    __tablename__ = "access_records"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    actor_role: str = Field(max_length=20)
    actor_name: str = Field(max_length=100)
    case_ref: str = Field(index=True, max_length=20)
    what: str = Field(max_length=200)


class ErasureTombstone(SQLModel, table=True):
    """What remains of a case erased at the end of its retention period: non-identifying figures for
    statistics only. No names, dates of birth, contact or health detail; dates only to the month."""

    __tablename__ = "erasure_tombstones"

    case_ref: str = Field(primary_key=True, max_length=20)
    school_urn: str = Field(max_length=6)
    stage_reached: str = Field(max_length=32, description="Furthest stage the case reached before closing")
    close_outcome: str | None
    provision_kinds: str = Field(description="Provision kinds running when the case was last projected")
    opened_month: str = Field(max_length=7, description="YYYY-MM")
    closed_month: str | None = Field(default=None, max_length=7, description="YYYY-MM")
    recoupment_total: Decimal = Field(sa_column=Column(Numeric(12, 2), nullable=False))
    erased_at: datetime


class Account(SQLModel, table=True):
    """A person who signs in to the pages (machines use `ApiKey`). `username` is also their name on
    the case (`Actor.name`: timelines, access records, the named officer); `display_name` is how
    the pages show them. Only an argon2 hash of the password is kept."""

    __tablename__ = "accounts"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(index=True, unique=True, max_length=64)
    display_name: str = Field(max_length=100)
    role: str = Field(max_length=20)
    school_urns: str = Field(default="", description="Comma-separated URNs a school account may see")
    password_hash: str = Field(max_length=200)
    created_at: datetime
    disabled_at: datetime | None = None


class SignInSession(SQLModel, table=True):
    """A signed-in browser. The cookie carries a random token; only its SHA-256 hash is kept here.
    It ends at sign-out, after `session_idle_minutes` without a request, or `session_hours` after
    sign-in, whichever comes first."""

    __tablename__ = "sign_in_sessions"

    token_hash: str = Field(primary_key=True, max_length=64)
    username: str = Field(index=True, max_length=64)
    csrf_token: str = Field(max_length=64)
    created_at: datetime
    last_seen_at: datetime


class CaseSearchToken(SQLModel, table=True):
    """The blind index that finds a child by name, UPN or date of birth without storing any of them:
    one keyed hash (`Keyring.search_token`) per normalised name part, the UPN and the date of birth."""

    __tablename__ = "case_search_tokens"

    case_ref: str = Field(primary_key=True, max_length=20)
    token: str = Field(primary_key=True, index=True, max_length=64)
    school_urn: str = Field(index=True, max_length=6)


class FailingActivity(SQLModel, table=True):
    """An activity of a case that keeps failing and is being retried (mail refused, a service down),
    as the worker saw it (`activities.failing_attempts`): what it does and why it fails in the
    users' words, never an error message or anything of the case's people. The row goes when the
    activity succeeds; the supervisor's page shows only those Temporal still reports as pending."""

    __tablename__ = "failing_activities"

    case_ref: str = Field(primary_key=True, max_length=20)
    activity_id: str = Field(primary_key=True, max_length=100)
    activity: str = Field(max_length=200, description="What it does, e.g. 'Email the consent request to the parent'")
    reason: str = Field(max_length=200, description="Why it fails, e.g. 'the mail server refused the connection'")
    attempt: int = Field(description="The attempt that failed last")
    since: datetime = Field(description="When the activity was first scheduled (its first attempt)")
    last_failed_at: datetime = Field(index=True)


class CaseListItem(SQLModel, table=True):
    """Items `idx * CHUNK` to `(idx + 1) * CHUNK - 1` of one of a case's lists (timeline, notes, absence
    days, reviews, ...; `readmodel.case_lists`), as encrypted JSON (notes and reviews may hold health
    detail), so the whole case can be put together again from a command's bounded answer
    (`domain.case_change`). The row with `list_name` "" and `idx` 0 holds nothing: its `version` is
    the case version the lists are complete at (none: not held yet)."""

    __tablename__ = "case_list_items"

    case_ref: str = Field(primary_key=True, max_length=20)
    list_name: str = Field(primary_key=True, max_length=32)
    idx: int = Field(primary_key=True)
    version: int
    body: bytes
