"""What can be checked of the production topology without a Docker engine: docker-compose.yml parses,
every service has an image or a build, ports, dependencies and environment variables agree with the
settings object, commands name modules that exist, and the search attributes registered in
production are the registry's. Plus the promises of the README, the lock file and bad configuration."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import BaseModel

from domain.search_attributes import cli_flags
from infra.settings import ConfigurationError, Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
OUR_IMAGE_SERVICES = [name for name, svc in SERVICES.items() if "build" in svc]
ENV_VAR = re.compile(r"\bCASEWORK_[A-Z0-9_]+")
INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+)(?::?[-?][^}]*)?\}")


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def interpolate(value: str) -> str:
    """Compose's ${VAR:?msg} / ${VAR:-default}, with a stand-in value for each variable."""
    return INTERPOLATION.sub(lambda m: f"x-{m.group(1).lower()}", value)


def settings_field_exists(env_name: str) -> bool:
    path = env_name.removeprefix("CASEWORK_").lower().split("__")
    model: type[BaseModel] = Settings
    for i, part in enumerate(path):
        field = model.model_fields.get(part)
        if field is None:
            return False
        if i < len(path) - 1:
            annotation = field.annotation
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return False
            model = annotation
    return True


def command_of(service: dict[str, Any]) -> list[str]:
    command = service.get("command")
    if command is None:
        return []
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def dockerfile_commands() -> list[list[str]]:
    commands = []
    for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\s*(CMD|ENTRYPOINT)\s+(.*)$", line)
        if match:
            body = match.group(2).strip()
            commands.append(json.loads(body) if body.startswith("[") else shlex.split(body))
    return commands


def module_exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def referenced_code(command: list[str]) -> list[str]:
    """Python modules/files a container command needs: `python -m x`, `python x.py`, `uvicorn m:app`."""
    needed: list[str] = []
    if not command:
        return needed
    if Path(command[0]).name.startswith("python"):
        if len(command) > 2 and command[1] == "-m":
            needed.append(f"module:{command[2]}")
        elif len(command) > 1 and command[1].endswith(".py"):
            needed.append(f"file:{command[1]}")
    elif Path(command[0]).name == "uvicorn":
        app = next(arg for arg in command[1:] if not arg.startswith("-"))
        needed.append(f"module:{app.split(':')[0]}")
    return needed


# -- docker-compose.yml -------------------------------------------------------------------------


def test_every_service_has_an_image_or_a_build() -> None:
    assert SERVICES
    for name, service in SERVICES.items():
        assert "image" in service or "build" in service, name


def test_the_topology_has_every_part() -> None:
    images = {name: str(service.get("image", "")) for name, service in SERVICES.items()}
    assert images["postgresql"].startswith("postgres:16")
    assert images["temporal"].startswith("temporalio/")
    assert images["temporal-ui"].startswith("temporalio/ui")
    assert {"worker", "api", "migrations", "smtp-relay", "temporal-search-attributes"} <= set(SERVICES)
    assert SERVICES["worker"]["deploy"]["replicas"] >= 2
    assert "container_name" not in SERVICES["worker"], "a fixed container name stops the worker scaling"


def test_every_casework_variable_is_a_real_setting() -> None:
    names = set(ENV_VAR.findall(COMPOSE_TEXT))
    assert names, "the compose file configures the service through CASEWORK_* variables"
    unknown = sorted(name for name in names if not settings_field_exists(name))
    assert not unknown, f"not fields of infra.settings.Settings: {unknown}"


def test_the_nested_setting_check_works() -> None:
    assert settings_field_exists("CASEWORK_CLOCKS__ABSENCE_THRESHOLD_DAYS")
    assert not settings_field_exists("CASEWORK_CLOCKS__NO_SUCH_CLOCK")
    assert not settings_field_exists("CASEWORK_API_PORT__X")
    assert not settings_field_exists("CASEWORK_NO_SUCH_SETTING")


@pytest.mark.parametrize("service_name", ["worker", "api", "migrations"])
def test_the_service_environment_is_a_valid_configuration(
    service_name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env file
    for name in list(os.environ):
        if name.startswith("CASEWORK_"):
            monkeypatch.delenv(name)
    env = {k: interpolate(v) for k, v in environment(SERVICES[service_name]).items()}
    env["CASEWORK_ENCRYPTION_KEYS"] = "prod-1:" + "A" * 43 + "="
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.environment == "production"
    assert settings.log_format == "json"


@pytest.mark.parametrize("service_name", ["worker", "api"])
def test_worker_and_api_point_at_temporal_and_postgres(service_name: str) -> None:
    env = environment(SERVICES[service_name])

    host, _, port = env["CASEWORK_TEMPORAL_ADDRESS"].partition(":")
    assert host == "temporal" and host in SERVICES
    assert port == "7233"

    url = urlsplit(interpolate(env["CASEWORK_DATABASE_URL"]))
    assert url.scheme == "postgresql+psycopg"
    assert url.hostname == "postgresql" and url.hostname in SERVICES
    postgres_env = environment(SERVICES["postgresql"])
    assert url.username == postgres_env["POSTGRES_USER"]
    assert url.path.lstrip("/") == postgres_env["POSTGRES_DB"]
    assert (url.port or 5432) == 5432

    assert env["CASEWORK_SMTP_HOST"] in SERVICES
    assert env["CASEWORK_ENVIRONMENT"] == "production"


def test_workers_and_api_share_one_configuration() -> None:
    worker = environment(SERVICES["worker"])
    assert environment(SERVICES["api"]) == worker
    assert environment(SERVICES["migrations"]) == worker


def test_host_ports_do_not_clash() -> None:
    any_ip = "0.0.0.0"  # noqa: S104 - compose's meaning of a port published without an address
    published: list[tuple[str, str, str]] = []
    for name, service in SERVICES.items():
        for mapping in service.get("ports", []):
            parts = str(mapping).split(":")
            ip, host_port = (parts[0], parts[1]) if len(parts) == 3 else (any_ip, parts[0])
            for other_name, other_ip, other_port in published:
                clash = other_port == host_port and any_ip in (ip, other_ip) or (ip, host_port) == (
                    other_ip,
                    other_port,
                )
                assert not clash, f"{name} and {other_name} both publish port {host_port}"
            published.append((name, ip, host_port))
    ports = {port for _, _, port in published}
    assert {"443", "8233"} <= ports


def test_only_the_proxy_is_reachable_from_outside() -> None:
    # The API (with /metrics) and the Temporal UI speak plain HTTP: only inside the network.
    assert "ports" not in SERVICES["api"]
    assert "ports" not in SERVICES["temporal-ui"]
    published = {str(m).rsplit(":", 1)[-1] for m in SERVICES["proxy"]["ports"]}
    assert published == {"80", "443", "8233"}


CADDYFILE = (ROOT / "deploy" / "Caddyfile").read_text(encoding="utf-8")


def test_the_proxy_terminates_tls_and_keeps_metrics_inside() -> None:
    mounts = [str(v) for v in SERVICES["proxy"]["volumes"]]
    assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in mounts
    assert any(m.endswith(":/certs:ro") for m in mounts)
    sites = re.findall(r"^(\S+) \{$", CADDYFILE, flags=re.M)
    assert sites == ["{$PUBLIC_HOST}", "{$PUBLIC_HOST}:8233"]
    assert CADDYFILE.count("tls /certs/tls.crt /certs/tls.key") == 2
    assert CADDYFILE.count('Strict-Transport-Security "max-age=31536000; includeSubDomains"') == 2
    assert "@metrics path /metrics /metrics/*\n\trespond @metrics 404" in CADDYFILE
    assert "reverse_proxy api:8000" in CADDYFILE
    assert "reverse_proxy temporal-ui:8080" in CADDYFILE


def test_the_proxy_bounds_slow_clients() -> None:
    assert re.search(r"read_header 10s", CADDYFILE)
    assert re.search(r"read_body 30s", CADDYFILE)


def test_the_api_behind_the_proxy_runs_in_production_and_trusts_only_the_proxy() -> None:
    env = environment(SERVICES["api"])
    assert env["CASEWORK_ENVIRONMENT"] == "production"  # so the API sends HSTS too
    assert env["CASEWORK_FORWARDED_ALLOW_IPS"] == "*"
    assert command_of(SERVICES["api"]) == ["python", "-m", "api.serve"]


def test_the_ui_decodes_through_the_api_codec_endpoint() -> None:
    ui_env = environment(SERVICES["temporal-ui"])
    assert ui_env["TEMPORAL_CODEC_ENDPOINT"] == "https://${PUBLIC_HOST:?set PUBLIC_HOST}/codec"
    assert ui_env["TEMPORAL_CORS_ORIGINS"] == environment(SERVICES["api"])["CASEWORK_UI_ORIGIN"]
    assert ui_env["TEMPORAL_ADDRESS"] == "temporal:7233"


def test_the_ui_sits_behind_the_councils_sign_in_and_passes_its_token_to_the_codec() -> None:
    # Nobody reaches the UI but through the proxy's https site, and nobody sees a workflow (or
    # terminates one) without signing in with the council's account: the UI server's own OIDC login.
    ui = SERVICES["temporal-ui"]
    assert "ports" not in ui and ui["expose"] == ["8080"]
    assert re.search(r"^\{\$PUBLIC_HOST\}:8233 \{\n\ttls /certs/tls.crt /certs/tls.key\n(?:.*\n)*?\treverse_proxy "
                     r"temporal-ui:8080\n\}", CADDYFILE, flags=re.M)
    ui_env, api_env = environment(ui), environment(SERVICES["api"])
    assert ui_env["TEMPORAL_AUTH_ENABLED"] == "true" and ui_env["TEMPORAL_AUTH_TYPE"] == "oidc"
    # The same provider and client as the pages' sign-in, so the access token's audience is the one
    # the codec checks (infra/oidc_tokens.py) and its person the same account.
    assert ui_env["TEMPORAL_AUTH_PROVIDER_URL"] == api_env["CASEWORK_OIDC_ISSUER"]
    assert ui_env["TEMPORAL_AUTH_CLIENT_ID"] == api_env["CASEWORK_OIDC_CLIENT_ID"]
    assert ui_env["TEMPORAL_AUTH_CLIENT_SECRET"] == api_env["CASEWORK_OIDC_CLIENT_SECRET"]
    callback = urlsplit(interpolate(ui_env["TEMPORAL_AUTH_CALLBACK_URL"]))
    assert (callback.scheme, callback.hostname, callback.port, callback.path) == (
        "https", "x-public_host", 8233, "/auth/sso/callback")
    assert {"openid", "profile", "email"} <= set(ui_env["TEMPORAL_AUTH_SCOPES"].split(","))
    # The codec gets the person's access token (the UI sends it only to an https endpoint), through
    # the proxy's API site, and no cookie.
    assert ui_env["TEMPORAL_CODEC_PASS_ACCESS_TOKEN"] == "true"
    assert ui_env["TEMPORAL_CODEC_INCLUDE_CREDENTIALS"] == "false"
    codec = urlsplit(interpolate(ui_env["TEMPORAL_CODEC_ENDPOINT"]))
    assert (codec.scheme, codec.hostname, codec.port, codec.path) == ("https", "x-public_host", None, "/codec")
    assert interpolate(api_env["CASEWORK_UI_ORIGIN"]) == f"https://{callback.hostname}:8233"


def test_the_embedded_dev_ui_listens_on_the_loopback_address_only() -> None:
    # `temporal server start-dev` binds the Web UI to `--ip` unless `--ui-ip` says otherwise.
    script = (ROOT / "scripts" / "run.sh").read_text(encoding="utf-8")
    start = script[script.index("server start-dev"):]
    start = start[: start.index("\n\n")]
    assert "--ip 127.0.0.1" in start
    assert "--ui-ip" not in start or "--ui-ip 127.0.0.1" in start


def test_depends_on_targets_exist_and_use_valid_conditions() -> None:
    conditions = {"service_started", "service_healthy", "service_completed_successfully"}
    for name, service in SERVICES.items():
        depends = service.get("depends_on") or {}
        targets = depends if isinstance(depends, dict) else {t: {} for t in depends}
        for target, spec in targets.items():
            assert target in SERVICES, f"{name} depends on unknown service {target}"
            assert target != name
            condition = (spec or {}).get("condition", "service_started")
            assert condition in conditions, f"{name} -> {target}: {condition}"
            if condition == "service_healthy":
                assert "healthcheck" in SERVICES[target], f"{name} waits on {target}, which has no healthcheck"


def test_no_dependency_cycles() -> None:
    def deps(name: str) -> list[str]:
        d = SERVICES[name].get("depends_on") or {}
        return list(d)

    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == "done":
            return
        assert state.get(name) != "visiting", f"dependency cycle: {' -> '.join([*path, name])}"
        state[name] = "visiting"
        for target in deps(name):
            visit(target, [*path, name])
        state[name] = "done"

    for name in SERVICES:
        visit(name, [])


def test_named_volumes_are_declared() -> None:
    declared = set(COMPOSE.get("volumes") or {})
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if not source.startswith(("/", ".")):
                assert source in declared, f"{name} uses undeclared volume {source}"


def test_compose_search_attributes_match_the_registry() -> None:
    script = "\n".join(command_of(SERVICES["temporal-search-attributes"]))
    registered = dict(re.findall(r"search-attribute create --name (\w+) --type (\w+)", script))
    flags = cli_flags()  # what the dev server gets: --search-attribute Name=Type, for every key
    expected = dict(flag.split("=", 1) for flag in flags[1::2])
    assert registered == expected


# -- Dockerfile -----------------------------------------------------------------------------------


def test_dockerfile_and_compose_commands_reference_code_that_exists() -> None:
    commands = dockerfile_commands()
    assert commands, "the Dockerfile has a CMD"
    commands += [command_of(SERVICES[name]) for name in OUR_IMAGE_SERVICES]
    needed = sorted({ref for command in commands for ref in referenced_code(command)})
    assert "file:worker.py" in needed
    missing = []
    for ref in needed:
        kind, _, target = ref.partition(":")
        ok = (ROOT / target).is_file() if kind == "file" else module_exists(target)
        if not ok:
            missing.append(target)
    assert not missing, f"container commands name code that does not exist: {missing}"


def test_dockerfile_installs_from_the_lock() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11", text, re.M)
    assert "-c requirements.lock" in text
    assert re.search(r"^USER (?!root)\w+", text, re.M), "the image runs as an unprivileged user"


# -- pins, README, CI -------------------------------------------------------------------------------


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_runtime_dependencies_are_pinned_and_match_the_lock() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lock = {}
    for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            lock[_normal(name)] = version
    requirements = project["dependencies"] + project["optional-dependencies"]["dev"]
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]+\])?==([^\s;]+)", requirement)
        assert match, f"not pinned exactly: {requirement}"
        assert lock.get(_normal(match.group(1))) == match.group(3), f"{requirement} disagrees with the lock"


def test_readme_starts_with_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, re.S)
    assert [b.strip() for b in blocks[:2]] == ["make run", "make test"]
    assert text.index("make test") < 1500, "the two commands are at the very top"


def test_ci_runs_exactly_make_test() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    assert lines[0] == "set -euo pipefail"
    assert lines[-1] == "make test"


# -- bad configuration --------------------------------------------------------------------------------


def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env file
    for name in list(os.environ):
        if name.startswith("CASEWORK_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CASEWORK_API_PORT", "abc"),
        ("CASEWORK_LOG_FORMAT", "xml"),
        ("CASEWORK_CLOCKS__ABSENCE_THRESHOLD_DAYS", "0"),
    ],
)
def test_bad_configuration_is_one_line_naming_the_setting(
    name: str, value: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _clean_environment(monkeypatch, tmp_path)
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message
    assert name in message
    assert isinstance(caught.value, SystemExit)


def test_default_configuration_loads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _clean_environment(monkeypatch, tmp_path)
    settings = load_settings()
    assert settings.temporal_address == "localhost:7233"
    assert settings.database_url.startswith("sqlite:///")


def test_readme_configuration_table_is_current() -> None:
    spec = importlib.util.spec_from_file_location("settings_table", ROOT / "scripts" / "settings_table.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    current = text[text.index(module.START) + len(module.START) : text.index(module.END)].strip()
    assert current == module.render(), "run: .venv/bin/python scripts/settings_table.py --write"
