"""Signed-in browsers, kept in the read model (`SignInSession`): the cookie carries a random token and
only its SHA-256 hash is stored, so a copy of the database signs nobody in. A session ends at
sign-out, after `session_idle_minutes` without a request, `session_hours` after sign-in, or when
its account is disabled. Each session has its own CSRF token for the forms it is shown."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, delete

from infra.accounts import Person, active_person
from readmodel.tables import SignInSession

COOKIE = "casework_session"
#: Refresh `last_seen_at` at most this often (one write a minute per person, not one per page).
TOUCH_EVERY = timedelta(seconds=60)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(session: Session, person: Person, now: datetime | None = None) -> str:
    """A new session for the person; answers the cookie's token."""
    now = now or datetime.now(UTC)
    token = secrets.token_urlsafe(32)
    session.add(
        SignInSession(
            token_hash=_hash(token),
            username=person.username,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
        )
    )
    return token


def resume(
    session: Session, token: str, *, idle: timedelta, absolute: timedelta, now: datetime | None = None
) -> tuple[Person, str] | None:
    """The person and the session's CSRF token, or None when the session is unknown or has ended
    (an ended one is removed)."""
    now = now or datetime.now(UTC)
    row = session.get(SignInSession, _hash(token))
    if row is None:
        return None
    last_seen, created = _aware(row.last_seen_at), _aware(row.created_at)
    person = active_person(session, row.username)
    if person is None or now - last_seen > idle or now - created > absolute:
        session.delete(row)
        return None
    if now - last_seen > TOUCH_EVERY:
        row.last_seen_at = now
        session.add(row)
    return person, row.csrf_token


def end(session: Session, token: str) -> None:
    session.exec(delete(SignInSession).where(SignInSession.token_hash == _hash(token)))  # type: ignore[call-overload]


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
