"""`casework`: the command-line tool that ships with the service.

    casework keys create --role ROLE --name NAME [--school-urn URN ...]   prints the token once
    casework keys list
    casework keys revoke NAME
    casework keys ensure-demo                                             development only
    casework accounts create --username U --display-name "Jo Bloggs" --role ROLE [--school-urn URN ...]
    casework accounts list
    casework accounts disable USERNAME
    casework accounts ensure-demo                                         development only
    casework search reindex [--batch N] [--all]

Tokens are stored only as SHA-256 hashes, so a token cannot be shown again: `keys create` prints it
once. `keys ensure-demo` creates one demo key per role (the school key for URN 120001) and prints
`role<TAB>token` lines; the demo tokens are derived from a fixed development seed, so they are the
same on every run and every machine — which is why it refuses to run in production.

Accounts are for people signing in to the pages. `accounts create` reads the password from the
terminal (twice), or one line from standard input with `--password-stdin`. `accounts ensure-demo`
creates one demo account per role and prints `role<TAB>username<TAB>password<TAB>display name`.

`search reindex` writes the search index's tokens for every case that has none (cases stored before
the index existed), a batch a transaction, showing progress on standard error; run it again to
resume, and it finds nothing more to do. `--all` rewrites every case's tokens. It needs the
service's encryption keys (`CASEWORK_ENCRYPTION_KEYS`), which is why it is not a migration.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from domain.people import Role

DEMO_SEED = b"casework development demo keys - never use in production"
DEMO_SCHOOL_URN = "120001"
DEMO_ROLES: tuple[Role, ...] = (Role.SCHOOL, Role.CASEWORKER, Role.SUPERVISOR, Role.FINANCE)


def demo_token(role: Role | str) -> str:
    """The fixed development token of a demo role (derived from the seed; not a secret)."""
    digest = hmac.new(DEMO_SEED, f"demo-key:{Role(role).value}".encode(), hashlib.sha256).digest()
    return "cw_" + base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def demo_key_name(role: Role | str) -> str:
    return f"demo-{Role(role).value}"


#: The demo accounts `make run` prints: role, username, display name.
DEMO_ACCOUNTS: tuple[tuple[Role, str, str], ...] = (
    (Role.SCHOOL, "demo.school", "Sam Okafor"),
    (Role.CASEWORKER, "demo.caseworker", "Jo Bloggs"),
    (Role.SUPERVISOR, "demo.supervisor", "Priya Shah"),
    (Role.FINANCE, "demo.finance", "Alex Finch"),
)


def demo_password(role: Role | str) -> str:
    """The fixed development password of a demo account (derived from the seed; not a secret)."""
    digest = hmac.new(DEMO_SEED, f"demo-account:{Role(role).value}".encode(), hashlib.sha256).digest()
    return "demo-" + base64.urlsafe_b64encode(digest[:12]).decode("ascii")


def _prepare_database(database_url: str) -> None:
    """The tables must exist before keys are stored: migrate (or create them, without migrations)."""
    try:
        from readmodel.migrate import upgrade
    except ImportError:  # pragma: no cover - only before readmodel.migrate exists
        from sqlmodel import SQLModel

        import readmodel.tables  # noqa: F401 - registers the tables
        from readmodel.database import make_engine

        engine = make_engine(database_url)
        try:
            SQLModel.metadata.create_all(engine)
        finally:
            engine.dispose()
        return
    upgrade(database_url)


def _keys_create(args: argparse.Namespace, engine: object, out: TextIO) -> int:
    from infra.access_keys import create_api_key
    from readmodel.database import session_scope

    with session_scope(engine) as session:  # type: ignore[arg-type]
        token = create_api_key(session, args.name, args.role, args.school_urn or ())
    print(token, file=out)
    print(
        f"created {args.role} key {args.name!r}: the token above is shown only now; store it safely",
        file=sys.stderr,
    )
    return 0


def _keys_list(args: argparse.Namespace, engine: object, out: TextIO) -> int:
    from infra.access_keys import list_api_keys
    from readmodel.database import session_scope

    with session_scope(engine) as session:  # type: ignore[arg-type]
        rows = list_api_keys(session)
        print("name\trole\tschool_urns\tcreated_at\tstatus", file=out)
        for row in rows:
            status = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "active"
            created = f"{row.created_at:%Y-%m-%d %H:%M}"
            print(f"{row.name}\t{row.role}\t{row.school_urns or '-'}\t{created}\t{status}", file=out)
    return 0


def _keys_revoke(args: argparse.Namespace, engine: object, out: TextIO) -> int:
    from infra.access_keys import revoke_api_key
    from readmodel.database import session_scope

    with session_scope(engine) as session:  # type: ignore[arg-type]
        found = revoke_api_key(session, args.name)
    if not found:
        print(f"error: no key named {args.name!r}", file=sys.stderr)
        return 1
    print(f"revoked key {args.name!r}", file=out)
    return 0


def _keys_ensure_demo(args: argparse.Namespace, engine: object, out: TextIO, environment: str) -> int:
    from sqlmodel import select

    from infra.access_keys import create_api_key, hash_token
    from readmodel.database import session_scope
    from readmodel.tables import ApiKey

    if environment == "production":
        print(
            "error: demo keys have well-known tokens; `keys ensure-demo` is refused in production",
            file=sys.stderr,
        )
        return 2
    problems = 0
    with session_scope(engine) as session:  # type: ignore[arg-type]
        for role in DEMO_ROLES:
            name, token = demo_key_name(role), demo_token(role)
            row = session.exec(select(ApiKey).where(ApiKey.name == name)).first()
            if row is None:
                urns = [DEMO_SCHOOL_URN] if role is Role.SCHOOL else []
                create_api_key(session, name, role, urns, token=token)
            elif row.token_hash != hash_token(token) or row.revoked_at is not None:
                print(
                    f"warning: key {name!r} exists with another token or is revoked; left as is",
                    file=sys.stderr,
                )
                problems += 1
                continue
            print(f"{role.value}\t{token}", file=out)
    return 1 if problems else 0


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    import getpass

    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def _accounts_create(args: argparse.Namespace, engine: object, out: TextIO) -> int:
    from infra.accounts import create_account
    from readmodel.database import session_scope

    try:
        password = _read_password(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with session_scope(engine) as session:  # type: ignore[arg-type]
        person = create_account(
            session, args.username, args.display_name, args.role, password, args.school_urn or ()
        )
    print(f"created {person.role.value} account {person.username!r} ({person.display_name})", file=out)
    return 0


def _accounts_list(args: argparse.Namespace, engine: object, out: TextIO) -> int:
    from infra.accounts import list_accounts
    from readmodel.database import session_scope

    with session_scope(engine) as session:  # type: ignore[arg-type]
        print("username\tdisplay_name\trole\tschool_urns\tcreated_at\tstatus", file=out)
        for row in list_accounts(session):
            status = f"disabled {row.disabled_at:%Y-%m-%d %H:%M}" if row.disabled_at else "active"
            print(
                f"{row.username}\t{row.display_name}\t{row.role}\t{row.school_urns or '-'}\t"
                f"{row.created_at:%Y-%m-%d %H:%M}\t{status}",
                file=out,
            )
    return 0


def _accounts_disable(args: argparse.Namespace, engine: object, out: TextIO) -> int:
    from infra.accounts import disable_account
    from readmodel.database import session_scope

    with session_scope(engine) as session:  # type: ignore[arg-type]
        found = disable_account(session, args.username)
    if not found:
        print(f"error: no account named {args.username!r}", file=sys.stderr)
        return 1
    print(f"disabled account {args.username!r}; its sign-ins have ended", file=out)
    return 0


def _accounts_ensure_demo(args: argparse.Namespace, engine: object, out: TextIO) -> int:
    from sqlmodel import select

    from infra.accounts import check_password, create_account
    from readmodel.database import session_scope
    from readmodel.tables import Account

    problems = 0
    with session_scope(engine) as session:  # type: ignore[arg-type]
        for role, username, display_name in DEMO_ACCOUNTS:
            password = demo_password(role)
            if session.exec(select(Account).where(Account.username == username)).first() is None:
                urns = [DEMO_SCHOOL_URN] if role is Role.SCHOOL else []
                create_account(session, username, display_name, role, password, urns)
            elif check_password(session, username, password) is None:
                print(f"warning: account {username!r} has another password or is disabled; left as is",
                      file=sys.stderr)
                problems += 1
                continue
            print(f"{role.value}\t{username}\t{password}\t{display_name}", file=out)
    return 1 if problems else 0


def _search_reindex(args: argparse.Namespace, engine: object, out: TextIO, settings: Any) -> int:
    from infra.encryption import Keyring
    from readmodel.search_reindex import reindex

    def _progress(done: int, to_do: int) -> None:
        print(f"{done} of {to_do} cases", file=sys.stderr, flush=True)

    done = reindex(engine, Keyring.from_settings(settings), batch=args.batch,  # type: ignore[arg-type]
                   everything=args.all, progress=_progress)
    print(f"indexed {done.indexed} cases; {done.already_indexed} already indexed; "
          f"{done.unreadable} could not be read", file=out)
    if done.unreadable:
        print("error: some cases could not be decrypted with the keys given (is a retired key missing "
              "from CASEWORK_ENCRYPTION_KEYS?); they are not searchable", file=sys.stderr)
        return 1
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _add_search_parser(commands: Any) -> None:
    search = commands.add_parser(
        "search", help="the search index of children's names, UPNs and dates of birth",
        description="Maintain the blind index the caseload's search uses.",
    )
    sub = search.add_subparsers(dest="search_command", required=True, metavar="SEARCH_COMMAND")
    again = sub.add_parser("reindex", help="index the cases that are not in the search index yet")
    again.add_argument("--batch", type=_positive, default=500, metavar="N", help="cases per transaction (default 500)")
    again.add_argument("--all", action="store_true", help="rewrite every case's tokens, not only missing ones")


def _add_accounts_parser(commands: Any) -> None:
    accounts = commands.add_parser(
        "accounts", help="people who sign in to the pages",
        description="Create, list and disable the local accounts people sign in to the pages with.",
    )
    sub = accounts.add_subparsers(dest="accounts_command", required=True, metavar="ACCOUNTS_COMMAND")
    create = sub.add_parser("create", help="create an account (asks for the password)")
    create.add_argument("--username", required=True, help="lower-case, e.g. j.bloggs; their name on cases")
    create.add_argument("--display-name", required=True, help='how the pages show them, e.g. "Jo Bloggs"')
    create.add_argument("--role", required=True, choices=[r.value for r in DEMO_ROLES])
    create.add_argument("--school-urn", action="append", metavar="URN", help="school accounts: a school they work for")
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    sub.add_parser("list", help="list accounts (never their passwords)")
    disable = sub.add_parser("disable", help="disable an account and end its sign-ins")
    disable.add_argument("username")
    sub.add_parser("ensure-demo", help="create the demo accounts if absent and print them (development only)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="casework", description="Casework service administration.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    keys = commands.add_parser(
        "keys", help="API access keys", description="Create, list and revoke API keys."
    )
    key_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="KEYS_COMMAND")

    create = key_commands.add_parser("create", help="create a key and print its token once")
    create.add_argument(
        "--role",
        required=True,
        choices=[r.value for r in DEMO_ROLES],
        help="school (scoped to --school-urn), caseworker, supervisor or finance",
    )
    create.add_argument("--name", required=True, help="a unique, non-personal name, e.g. officer-jb")
    create.add_argument(
        "--school-urn",
        action="append",
        metavar="URN",
        help="a school the key may see (6 digits); repeat for several; school keys only",
    )

    key_commands.add_parser("list", help="list keys (never their tokens)")

    revoke = key_commands.add_parser("revoke", help="revoke a key by name")
    revoke.add_argument("name")

    key_commands.add_parser(
        "ensure-demo", help="create the demo keys if absent and print role<TAB>token (development only)"
    )
    _add_accounts_parser(commands)
    _add_search_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    args = build_parser().parse_args(argv)

    from infra.access_keys import ApiKeyError
    from infra.accounts import AccountError
    from infra.settings import ConfigurationError, load_settings
    from readmodel.database import ReadModelUnavailable, make_engine, safe_url

    try:
        settings = load_settings()
    except ConfigurationError as exc:
        print(str(exc), file=sys.stderr)
        return 2

    if args.command == "keys" and args.keys_command == "ensure-demo" and settings.environment == "production":
        return _keys_ensure_demo(args, None, out, settings.environment)
    if args.command == "accounts" and args.accounts_command == "ensure-demo" and settings.environment == "production":
        print("error: demo accounts have well-known passwords; refused in production", file=sys.stderr)
        return 2

    engine = None
    try:
        _prepare_database(settings.database_url)
        engine = make_engine(settings.database_url)
        if args.command == "search":
            return _search_reindex(args, engine, out, settings)
        if args.command == "accounts":
            return {
                "create": _accounts_create,
                "list": _accounts_list,
                "disable": _accounts_disable,
                "ensure-demo": _accounts_ensure_demo,
            }[args.accounts_command](args, engine, out)
        handler = {
            "create": _keys_create,
            "list": _keys_list,
            "revoke": _keys_revoke,
        }.get(args.keys_command)
        if handler is not None:
            return handler(args, engine, out)
        return _keys_ensure_demo(args, engine, out, settings.environment)
    except (ApiKeyError, AccountError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ReadModelUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        from readmodel.database import is_unavailable

        if is_unavailable(exc):
            print(f"error: the database {safe_url(settings.database_url)} is not reachable", file=sys.stderr)
            return 1
        raise
    finally:
        if engine is not None:
            engine.dispose()


if __name__ == "__main__":
    raise SystemExit(main())
