"""Local accounts for people who sign in to the pages: create, list, disable, check a password.

Passwords are kept only as argon2id hashes (`argon2-cffi`, its recommended parameters); a hash made
with older parameters is replaced at the next successful sign-in. A disabled account cannot sign in
and its open sessions end at their next request. The username is the person's name on cases (the
named officer, timeline and access records), so it follows the same pattern as an officer slug."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, select

from domain.people import Role
from readmodel.tables import Account, SignInSession

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_URN_RE = re.compile(r"^\d{6}$")
MIN_PASSWORD_LENGTH = 12
ROLES: tuple[Role, ...] = (Role.SCHOOL, Role.CASEWORKER, Role.SUPERVISOR, Role.FINANCE)

_hasher = PasswordHasher()
#: Checked against when the username is unknown, so an unknown name takes as long as a wrong password.
_UNKNOWN_USER_HASH = _hasher.hash("an unknown user never matches this")


class AccountError(ValueError):
    """A request the accounts cannot carry out, in words for the operator."""


@dataclass(frozen=True)
class Person:
    """A signed-in person: what the pages and the access rules need to know."""

    username: str
    display_name: str
    role: Role
    school_urns: frozenset[str]


def _person(row: Account) -> Person:
    return Person(
        username=row.username,
        display_name=row.display_name,
        role=Role(row.role),
        school_urns=frozenset(u for u in row.school_urns.split(",") if u),
    )


def create_account(
    session: Session,
    username: str,
    display_name: str,
    role: Role | str,
    password: str,
    school_urns: Iterable[str] = (),
) -> Person:
    if not USERNAME_RE.match(username):
        raise AccountError("username: lower-case letters, digits, '.', '_' or '-', at most 64 (e.g. j.bloggs)")
    display_name = display_name.strip()
    if not 1 <= len(display_name) <= 100:
        raise AccountError("display name: 1 to 100 characters")
    try:
        role = Role(role)
    except ValueError:
        raise AccountError(f"role: one of {', '.join(r.value for r in ROLES)}") from None
    if role not in ROLES:
        raise AccountError(f"role: one of {', '.join(r.value for r in ROLES)}")
    urns = sorted({u.strip() for u in school_urns if u.strip()})
    if any(not _URN_RE.match(u) for u in urns):
        raise AccountError("school URN: 6 digits")
    if (role is Role.SCHOOL) != bool(urns):
        raise AccountError("a school account needs at least one --school-urn; other roles take none")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"password: at least {MIN_PASSWORD_LENGTH} characters")
    if session.exec(select(Account).where(Account.username == username)).first() is not None:
        raise AccountError(f"an account {username!r} already exists")
    row = Account(
        username=username,
        display_name=display_name,
        role=role.value,
        school_urns=",".join(urns),
        password_hash=_hasher.hash(password),
        created_at=datetime.now(UTC),
    )
    session.add(row)
    session.flush()
    return _person(row)


def list_accounts(session: Session) -> list[Account]:
    return list(session.exec(select(Account).order_by(Account.username)))


def disable_account(session: Session, username: str) -> bool:
    """Disable the account and end its sessions. False when there is no such account."""
    row = session.exec(select(Account).where(Account.username == username)).first()
    if row is None:
        return False
    if row.disabled_at is None:
        row.disabled_at = datetime.now(UTC)
        session.add(row)
    for signed_in in session.exec(select(SignInSession).where(SignInSession.username == username)):
        session.delete(signed_in)
    return True


def check_password(session: Session, username: str, password: str) -> Person | None:
    """The person, when the username names an active account and the password is theirs."""
    row = session.exec(select(Account).where(Account.username == username)).first()
    if row is None or row.disabled_at is not None:
        try:
            _hasher.verify(_UNKNOWN_USER_HASH, password)
        except VerificationError:
            pass
        return None
    try:
        _hasher.verify(row.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if _hasher.check_needs_rehash(row.password_hash):
        row.password_hash = _hasher.hash(password)
        session.add(row)
    return _person(row)


def active_person(session: Session, username: str) -> Person | None:
    row = session.exec(select(Account).where(Account.username == username)).first()
    if row is None or row.disabled_at is not None:
        return None
    return _person(row)


def display_names(session: Session, usernames: Iterable[str]) -> dict[str, str]:
    """Username -> display name, for the names that are accounts (API keys keep their own name)."""
    wanted = sorted(set(usernames))
    if not wanted:
        return {}
    rows = session.exec(select(Account.username, Account.display_name).where(Account.username.in_(wanted)))
    return dict(rows.all())


def people_with_role(session: Session, role: Role) -> list[Person]:
    rows = session.exec(
        select(Account).where(Account.role == role.value, Account.disabled_at.is_(None)).order_by(Account.display_name)
    )
    return [_person(r) for r in rows]


#: The password hash of an account that signs in through OpenID Connect only: never a valid argon2
#: hash, so no password can sign in to it; it names the provider's subject.
OIDC_MARK = "oidc:"


def account_for_provider_identity(
    session: Session, subject: str, username: str, display_name: str, role: Role, school_urns: Iterable[str]
) -> Person | None:
    """The account of a person the council's identity provider vouched for, created on their first
    sign-in and kept in step with the provider's claims (name, role, schools). None when that
    username is a local account or another subject's, or the account is disabled."""
    row = session.exec(select(Account).where(Account.username == username)).first()
    mark = OIDC_MARK + subject
    if row is None:
        row = Account(username=username, display_name=display_name, role=role.value,
                      school_urns=",".join(sorted(school_urns)), password_hash=mark[:200],
                      created_at=datetime.now(UTC))
    elif row.password_hash != mark[:200] or row.disabled_at is not None:
        return None
    else:
        row.display_name, row.role, row.school_urns = display_name, role.value, ",".join(sorted(school_urns))
    session.add(row)
    session.flush()
    return _person(row)
