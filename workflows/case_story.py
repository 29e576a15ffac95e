"""The case's story in the Temporal UI, in the words of the people who work it: the current details
(Markdown: stage, named officer, what the case waits for and until when, what is overdue, alerts),
and a summary for every activity and timer.

Pure functions of the case (no I/O, deterministic), so the workflow may call them anywhere. What
they write is user metadata, which passes through the payload codec: encrypted in history, readable
only to those who may decode. Even so they name no child, parent or diagnosis: a task's description,
a template, a role, a date.
"""

from __future__ import annotations

from datetime import date

from temporalio import workflow

# The same (passed-through) domain modules as the workflow's: imported afresh inside the sandbox,
# the rule registry would be filled twice.
with workflow.unsafe.imports_passed_through():
    from domain.case_state import CaseView
    from domain.document_models import GeneratedDocument
    from domain.email_models import EmailRequest
    from domain.recoupment import RecoupmentLine

_ALERT_WORDS = {
    "email_failed": "an email could not be sent",
    "email_unconfirmed": "an email may not have arrived",
}


def words(name: str) -> str:
    """`gathering_evidence` -> `gathering evidence`."""
    return name.replace("_", " ")


def day(on: date) -> str:
    """`Thu 3 Dec 2026`."""
    return f"{on:%a} {on.day} {on:%b %Y}"


def current_details(view: CaseView, today: date) -> str:
    """What a supervisor needs to see first, as the case stands now."""
    s = view.state
    lines = [f"**Stage:** {words(s.stage.value)} · **Officer:** {s.officer or 'not named yet'}"]
    overdue = [t for t in view.pending_tasks if t.overdue]
    if overdue:
        lines.append(f"**Overdue ({len(overdue)}):** " + "; ".join(
            f"{t.description} (due {day(t.due_on)}{', escalated' if t.escalated else ''})" for t in overdue
        ))
    waiting = [t for t in view.pending_tasks if not t.overdue]
    if waiting:
        lines.append("**Waiting for:** " + "; ".join(
            f"{t.description} ({words(str(t.assignee_role))}, by {day(t.due_on)})"
            for t in sorted(waiting, key=lambda t: t.due_on)
        ))
    elif not overdue:
        lines.append("**Waiting for:** nothing due" if s.closed_on is None else f"**Closed** on {day(s.closed_on)}")
    if s.stalled:
        lines.append(f"**Stalled:** no progress since {day(s.last_progress_on)}")
    if s.alerts:
        latest = s.alerts[-1]
        lines.append(
            f"**Alerts ({len(s.alerts)}):** latest {day(latest.raised_on)}, "
            f"{_ALERT_WORDS.get(latest.kind, words(latest.kind))}"
        )
    if s.threshold_date is not None and s.threshold_date <= today and s.provision_started_on is None:
        lines.append(f"**15-day point** passed on {day(s.threshold_date)}; no provision yet")
    return "\n\n".join(lines)


def email_summary(mail: EmailRequest) -> str:
    """`Email the consent request to the parent`."""
    to = " and ".join(sorted({words(r.role.value) for r in mail.recipients}))
    return f"Email the {words(mail.template.value)} to the {to}"


def document_summary(document: GeneratedDocument) -> str:
    return f"Store the {words(document.kind)} document"


def recoupment_summary(lines: list[RecoupmentLine]) -> str:
    """`Post autumn 2026 recoupment` (`settlement` at closure)."""
    periods = sorted({line.period for line in lines})
    return f"Post {', '.join(periods)} recoupment ({len(lines)} line{'s' if len(lines) != 1 else ''})"


def projection_summary(version: int) -> str:
    return f"Write the case to the read model (version {version})"


RULES_SUMMARY = "Load the term dates and the council's case rules"
