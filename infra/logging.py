"""structlog for every process: console output in development, JSON in production.

- `configure_logging(settings)` once at process start (worker, API, CLI). The standard library's
  loggers (temporalio, uvicorn, alembic) are routed through the same processors and renderer.
- `get_logger(name)` anywhere outside workflow code.
- `workflow_logger(**bind)` inside workflow code: bound with workflow id, run id and type, and silent
  while the workflow replays its history (so each line is written once, not on every replay).
- `activity_logger(**bind)` inside activities: bound with activity id/type, workflow id and attempt.

Personal data never reaches a log line: `redact_personal_data` replaces the value of every known
personal-data key (`PERSONAL_KEYS`), at any depth, with "[redacted]". Log identifiers (case
reference, school URN, workflow ids) instead of people.

Safe to import inside the Temporal workflow sandbox: workflows import it within
`workflow.unsafe.imports_passed_through()`, and it does no I/O at import time.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import structlog
from temporalio import activity, workflow

if TYPE_CHECKING:
    from infra.settings import Settings

REDACTED = "[redacted]"

# Keys whose values are personal data (UK GDPR; health data is special category). Matched
# case-insensitively, at any depth of the event (nested dicts, lists, pydantic models).
PERSONAL_KEYS: frozenset[str] = frozenset(
    {
        "child",
        "parent",
        "given_name",
        "family_name",
        "date_of_birth",
        "email",
        "address",
        "phone",
        "health_summary",
        "notes",
        "text",
    }
)

# Keys structlog and the stdlib bridge use themselves; never redacted, never recursed into.
_RESERVED = frozenset({"event", "level", "logger", "timestamp", "_record", "_from_structlog"})
_MAX_DEPTH = 8


def _scrub(value: Any, depth: int = 0) -> Any:
    if depth > _MAX_DEPTH:
        return value
    if hasattr(value, "model_dump") and callable(value.model_dump):
        try:
            value = value.model_dump(mode="json")
        except Exception:  # a model that cannot dump is logged as its type only
            return f"<{type(value).__name__}>"
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if isinstance(k, str) and k.lower() in PERSONAL_KEYS else _scrub(v, depth + 1))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub(v, depth + 1) for v in value]
    return value


def redact_personal_data(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: replace the values of personal-data keys, wherever they appear."""
    for key in list(event_dict):
        if key in _RESERVED:
            continue
        if key.lower() in PERSONAL_KEYS:
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _scrub(event_dict[key])
    return event_dict


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_personal_data,
        structlog.processors.StackInfoRenderer(),
    ]


def configure_logging(settings: Settings | None = None) -> None:
    """Configure structlog and the stdlib root logger. Safe to call more than once."""
    level_name = settings.log_level if settings is not None else "INFO"
    json_output = settings is not None and settings.log_format == "json"
    level = logging.getLevelName(level_name)

    shared = _shared_processors()
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )

    # Tracebacks never show local variables: they may hold personal data.
    if json_output:
        final: list[Any] = [
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            ),
            structlog.processors.JSONRenderer(),
        ]
    else:
        final = [
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.dev.ConsoleRenderer(
                colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
            ),
        ]
    formatter = structlog.stdlib.ProcessorFormatter(
        # Records from stdlib loggers (temporalio, uvicorn, ...) get the same treatment, plus
        # whatever they passed as `extra=` (temporalio puts workflow/activity info there).
        foreign_pre_chain=[*shared[:-2], structlog.stdlib.ExtraAdder(), *shared[-2:]],
        processors=final,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)

    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)

    # uvicorn installs its own handlers before importing the app; route them through ours.
    for name in ("uvicorn", "uvicorn.error"):
        uv = logging.getLogger(name)
        uv.handlers.clear()
        uv.propagate = True
    # The API's own `http_request` line (api/request_middleware.py) is the access log: uvicorn's
    # would repeat each request with the client's address and raw path.
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False


def get_logger(name: str | None = None, **bind: Any) -> structlog.stdlib.BoundLogger:
    logger = structlog.stdlib.get_logger(name)
    return logger.bind(**bind) if bind else logger


class ReplaySafeLogger:
    """A structlog-style logger for workflow code that writes nothing while the workflow replays."""

    def __init__(self, logger: Any) -> None:
        self._logger = logger

    def bind(self, **values: Any) -> ReplaySafeLogger:
        return ReplaySafeLogger(self._logger.bind(**values))

    def unbind(self, *keys: str) -> ReplaySafeLogger:
        return ReplaySafeLogger(self._logger.unbind(*keys))

    def _emit(self, method: str, event: str, *args: Any, **kw: Any) -> None:
        if workflow.in_workflow():
            if workflow.unsafe.is_replaying():
                return
            # Logging is I/O outside the workflow's deterministic state; let it past the sandbox.
            with workflow.unsafe.sandbox_unrestricted():
                getattr(self._logger, method)(event, *args, **kw)
        else:
            getattr(self._logger, method)(event, *args, **kw)

    def debug(self, event: str, *args: Any, **kw: Any) -> None:
        self._emit("debug", event, *args, **kw)

    def info(self, event: str, *args: Any, **kw: Any) -> None:
        self._emit("info", event, *args, **kw)

    def warning(self, event: str, *args: Any, **kw: Any) -> None:
        self._emit("warning", event, *args, **kw)

    warn = warning

    def error(self, event: str, *args: Any, **kw: Any) -> None:
        self._emit("error", event, *args, **kw)

    def exception(self, event: str, *args: Any, **kw: Any) -> None:
        self._emit("exception", event, *args, **kw)


def workflow_logger(**bind: Any) -> ReplaySafeLogger:
    """Logger for workflow code (call it inside workflow methods, not at import time).

    Bound with workflow_id, run_id, workflow_type (and `bind`, e.g. case_ref); silent on replay.
    Outside a workflow (plain unit tests of workflow helpers) it is an ordinary logger.
    """
    context: dict[str, Any] = {}
    if workflow.in_workflow():
        info = workflow.info()
        context = {
            "workflow_id": info.workflow_id,
            "run_id": info.run_id,
            "workflow_type": info.workflow_type,
        }
    return ReplaySafeLogger(structlog.stdlib.get_logger("casework.workflow").bind(**context, **bind))


def activity_logger(**bind: Any) -> structlog.stdlib.BoundLogger:
    """Logger for activity code, bound with activity id/type, workflow id/run id and attempt."""
    context: dict[str, Any] = {}
    if activity.in_activity():
        info = activity.info()
        context = {
            "activity_id": info.activity_id,
            "activity_type": info.activity_type,
            "workflow_id": info.workflow_id,
            "run_id": info.workflow_run_id,
            "attempt": info.attempt,
        }
    return structlog.stdlib.get_logger("casework.activity").bind(**context, **bind)


def _default_configuration() -> None:
    """Until `configure_logging` runs (e.g. in tests), still never print personal data."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_personal_data,
            structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback),
        ],
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )


if not structlog.is_configured():
    _default_configuration()
