"""Supervisor alerts: raised on the case and mailed to the supervisors' mailbox."""

from domain.case_context import CaseContext
from domain.case_effects import email, supervisors
from domain.case_state import CaseState, SupervisorAlert
from domain.email_models import EmailRequest, EmailTemplate


def raise_alert(state: CaseState, kind: str, detail: str, ctx: CaseContext, *, key: str,
                template: EmailTemplate = EmailTemplate.SUPERVISOR_ALERT) -> EmailRequest:
    """Raise a supervisor alert on the case and return the email that tells supervisors."""
    state.alerts.append(SupervisorAlert(kind=kind, raised_on=ctx.today, detail=detail))
    return email(state, key, template, [supervisors()], on=ctx.today, detail=detail)
