"""`casework keys ...`: create (token printed once, only its hash stored), list, revoke, ensure-demo."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import select

import cli
from api.auth import principal_for_token
from infra.access_keys import hash_token
from readmodel.database import make_engine, session_scope
from readmodel.tables import ApiKey
from tests.support import TEST_ENCRYPTION_KEYS

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("CASEWORK_DATABASE_URL", url)
    monkeypatch.setenv("CASEWORK_ENVIRONMENT", "development")
    monkeypatch.setenv("CASEWORK_ENCRYPTION_KEYS", TEST_ENCRYPTION_KEYS)
    monkeypatch.setenv("CASEWORK_OUTBOX_DIR", str(tmp_path / "outbox"))
    return url


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(list(argv), out=out)
    return code, out.getvalue()


def keys(url: str) -> list[ApiKey]:
    engine = make_engine(url)
    try:
        with session_scope(engine) as s:
            return list(s.exec(select(ApiKey).order_by(ApiKey.name)))
    finally:
        engine.dispose()


def principal(url: str, token: str):  # noqa: ANN201 - a Principal or None
    engine = make_engine(url)
    try:
        with session_scope(engine) as s:
            return principal_for_token(s, token)
    finally:
        engine.dispose()


def test_create_prints_the_token_once_and_stores_its_hash(db_url: str) -> None:
    code, out = run(
        "keys",
        "create",
        "--role",
        "school",
        "--name",
        "st-marys",
        "--school-urn",
        "120001",
        "--school-urn",
        "120002",
    )
    assert code == 0
    token = out.strip()
    assert token.startswith("cw_") and len(token) == 46
    [row] = keys(db_url)
    assert row.token_hash == hash_token(token) and row.school_urns == "120001,120002"
    p = principal(db_url, token)
    assert p is not None and p.role.value == "school" and p.school_urns == {"120001", "120002"}

    code, listing = run("keys", "list")
    assert code == 0 and "st-marys\tschool\t120001,120002" in listing and token not in listing


@pytest.mark.parametrize(
    "argv",
    [
        ["--role", "school", "--name", "no-urn"],
        ["--role", "caseworker", "--name", "scoped", "--school-urn", "120001"],
        ["--role", "school", "--name", "bad-urn", "--school-urn", "12"],
        ["--role", "caseworker", "--name", ""],
    ],
)
def test_create_refuses_bad_keys(db_url: str, argv: list[str]) -> None:
    code, out = run("keys", "create", *argv)
    assert code == 2 and out == ""
    assert keys(db_url) == []


def test_unknown_role_is_an_argparse_error(db_url: str) -> None:
    with pytest.raises(SystemExit) as exc:
        run("keys", "create", "--role", "system", "--name", "x")
    assert exc.value.code == 2


def test_duplicate_name_is_refused(db_url: str) -> None:
    assert run("keys", "create", "--role", "caseworker", "--name", "officer-jb")[0] == 0
    assert run("keys", "create", "--role", "supervisor", "--name", "officer-jb")[0] == 2
    assert len(keys(db_url)) == 1


def test_revoke(db_url: str) -> None:
    _, out = run("keys", "create", "--role", "finance", "--name", "finance-1")
    token = out.strip()
    assert principal(db_url, token) is not None
    assert run("keys", "revoke", "finance-1") == (0, "revoked key 'finance-1'\n")
    assert principal(db_url, token) is None
    assert run("keys", "revoke", "finance-1")[0] == 0  # twice is harmless
    assert run("keys", "revoke", "nobody")[0] == 1
    assert "revoked" in run("keys", "list")[1]


def test_ensure_demo_is_deterministic_and_idempotent(db_url: str) -> None:
    code, first = run("keys", "ensure-demo")
    assert code == 0
    lines = dict(line.split("\t") for line in first.strip().splitlines())
    assert set(lines) == {"school", "caseworker", "supervisor", "finance"}
    code, second = run("keys", "ensure-demo")
    assert code == 0 and second == first
    assert len(keys(db_url)) == 4
    school = principal(db_url, lines["school"])
    assert school is not None and school.school_urns == {"120001"}
    for role, token in lines.items():
        p = principal(db_url, token)
        assert p is not None and p.role.value == role
        assert token == cli.demo_token(role)


def test_ensure_demo_refused_in_production(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASEWORK_ENVIRONMENT", "production")
    code, out = run("keys", "ensure-demo")
    assert code == 2 and out == ""
    monkeypatch.setenv("CASEWORK_ENVIRONMENT", "development")
    assert run("keys", "list") == (0, "name\trole\tschool_urns\tcreated_at\tstatus\n")


def test_console_entry_point_runs(db_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import cli, sys; sys.exit(cli.main())",
            "keys",
            "create",
            "--role",
            "supervisor",
            "--name",
            "sup-1",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("cw_") and len(done.stdout.strip().splitlines()) == 1
    assert "shown only now" in done.stderr
