"""Print the README's configuration table from `infra.settings.Settings`, or rewrite it in place.

    .venv/bin/python scripts/settings_table.py          # print the table
    .venv/bin/python scripts/settings_table.py --write  # replace it in README.md

The README holds the table between `<!-- settings-table:start -->` and `<!-- settings-table:end -->`;
a test checks it is up to date.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pydantic import BaseModel, SecretStr  # noqa: E402
from pydantic.fields import FieldInfo  # noqa: E402

from infra.settings import PROJECT_ROOT, Settings  # noqa: E402

START = "<!-- settings-table:start -->"
END = "<!-- settings-table:end -->"

# Meanings of the settings whose field carries no description.
MEANINGS: dict[str, str] = {
    "environment": "`development`, `test` or `production` (production refuses development shortcuts)",
    "log_level": "`DEBUG`, `INFO`, `WARNING` or `ERROR`",
    "log_format": "`console` (readable) or `json` (one object a line, for log shipping)",
    "temporal_address": "Temporal frontend `host:port` (dev server, self-hosted cluster or Temporal Cloud)",
    "temporal_namespace": "Temporal namespace",
    "task_queue": "Task queue the worker polls and the API starts cases on",
    "database_url": "Read model database (SQLAlchemy URL): SQLite file or `postgresql+psycopg://...`",
    "smtp_host": "SMTP server; unset = emails are written to `outbox_dir` instead",
    "smtp_port": "SMTP port",
    "smtp_username": "SMTP user name (optional)",
    "smtp_password": "SMTP password (optional)",
    "smtp_starttls": "Use STARTTLS with the SMTP server",
    "mail_from": "Sender address of the service's emails",
    "outbox_dir": "Folder emails are written to when no SMTP host is set",
    "officer_mail_domain": "Mail domain of named education officers",
    "supervisor_mailbox": "Mailbox for supervisor alerts (stuck and overdue cases)",
    "document_dir": "Where uploaded documents (encrypted) are stored",
    "max_document_bytes": "Largest accepted upload, in bytes",
    "api_host": "Address the API listens on",
    "api_port": "Port the API listens on",
    "ui_origin": "Origin of the Temporal UI allowed to call the API's `/codec` endpoint (CORS)",
    "public_url": "The address people use to reach the service (links from the Temporal UI to a case)",
    "forwarded_allow_ips": "Addresses of the reverse proxy whose `X-Forwarded-For`/`-Proto` are trusted "
    "(comma separated, `*` for any: only where nothing else can reach the API)",
    "request_header_timeout_seconds": "A client must send a request's headers within this time, "
    "or the connection is closed (slow-client bound)",
    "request_body_timeout_seconds": "A client must send a request's body within this time, or gets 408",
    "failed_auth_limit_per_minute": "Refused access keys from one address within a minute before "
    "further refusals answer 429 with `Retry-After`",
    "max_codec_payloads": "The most payloads one `/codec` call may carry (413 beyond)",
    "encryption_keys": "`key-id:base64-32-bytes` pairs, comma separated; the first encrypts, all decrypt. "
    "Required in production; development uses `var/dev-encryption.key`",
    "recoupment.annual_per_pupil": "Annual per-pupil funding by key stage (JSON object: "
    "reception, ks1 ... ks5 to pounds), recouped pro rata per school day",
    "recoupment.school_days_per_year": "School days in a year for the daily rate, used only with "
    "`divisor` `fixed`",
    "recoupment.divisor": "Daily rate = annual amount / the school days of that school year in the school's "
    "calendar (`school_year`, so a full year charges the annual amount) or / `school_days_per_year` (`fixed`)",
    "recoupment.part_time_attendance": "`full_charge`: a day of a part-time timetable is charged in full; "
    "`pro_rata`: less the share of full-time hours the child is back at school (hours / full-time hours)",
}


def _show_default(value: Any) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, Path):
        return f"`{str(value).replace(str(PROJECT_ROOT), '<project>')}`"
    if isinstance(value, str):
        return f"`{value.replace(str(PROJECT_ROOT), '<project>')}`" if value else '`""`'
    if isinstance(value, dict):
        return f"`{json.dumps({str(k): str(v) for k, v in value.items()})}`"
    return f"`{value}`"


def _rows(model: type[BaseModel], instance: BaseModel, prefix: str, dotted: str) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    for name, field in model.model_fields.items():
        value = getattr(instance, name)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows += _rows(annotation, value, f"{prefix}{name.upper()}__", f"{dotted}{name}.")
            continue
        rows.append((f"`{prefix}{name.upper()}`", _show_default(value), _meaning(field, f"{dotted}{name}")))
    return rows


def _meaning(field: FieldInfo, dotted: str) -> str:
    text = field.description or MEANINGS.get(dotted) or ""
    return text.replace("|", "\\|")


def render() -> str:
    defaults = Settings.model_construct()  # the defaults, without reading the environment
    lines = ["| Environment variable | Default | Meaning |", "|---|---|---|"]
    lines += [f"| {env} | {default} | {meaning} |" for env, default, meaning in _rows(Settings, defaults, "CASEWORK_", "")]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    table = render()
    if "--write" not in argv:
        print(table)
        return 0
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    start, end = text.index(START) + len(START), text.index(END)
    readme.write_text(text[:start] + "\n" + table + "\n" + text[end:], encoding="utf-8")
    print(f"updated {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
