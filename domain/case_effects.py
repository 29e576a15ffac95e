"""What a change to a case asks the outside world to do. The workflow carries these out as activities."""

from dataclasses import dataclass, field
from datetime import date

from domain.case_state import CaseState, TimelineEvent
from domain.document_models import GeneratedDocument
from domain.email_models import CalendarInvite, EmailRequest, EmailTemplate, MailRecipient, RecipientRole
from domain.people import Actor, HealthProfessional
from domain.recoupment import RecoupmentLine


@dataclass
class Effects:
    emails: list[EmailRequest] = field(default_factory=list)
    documents: list[GeneratedDocument] = field(default_factory=list)
    recoupment: list[RecoupmentLine] = field(default_factory=list)

    def extend(self, other: "Effects") -> None:
        self.emails += other.emails
        self.documents += other.documents
        self.recoupment += other.recoupment


def record_event(state: CaseState, *, at, actor: Actor, action: str, summary: str) -> TimelineEvent:
    """Append a timeline event. Summaries are never personal: they name actions, dates and counts."""
    event = TimelineEvent(seq=len(state.timeline) + 1, at=at, actor=actor, action=action, summary=summary)
    state.timeline.append(event)
    return event


def parent(state: CaseState) -> MailRecipient:
    return MailRecipient(role=RecipientRole.PARENT, address=state.parent.email)


def school(state: CaseState) -> MailRecipient:
    return MailRecipient(role=RecipientRole.SCHOOL, ref=state.school_urn)


def officer_or_supervisors(state: CaseState) -> MailRecipient:
    if state.officer:
        return MailRecipient(role=RecipientRole.OFFICER, ref=state.officer)
    return supervisors()


def supervisors() -> MailRecipient:
    return MailRecipient(role=RecipientRole.SUPERVISORS)


def professional(p: HealthProfessional) -> MailRecipient:
    return MailRecipient(role=RecipientRole.PROFESSIONAL, address=p.email, ref=p.id)


def evidence_email(state: CaseState, key: str, template: EmailTemplate, who: HealthProfessional, *,
                   on: date) -> EmailRequest:
    """An email to a health professional the parent consented to us contacting: it identifies the patient
    (name and date of birth), which is why it goes only to such a professional."""
    mail = email(state, key, template, [professional(who)], on=on)
    born = state.child.date_of_birth
    mail.context.update({
        "child_date_of_birth": f"{born.day} {born:%B %Y}",
        "professional_name": who.name,
        "consent_date": _day(state.consent_decided_on or on),
    })
    return mail


def _day(on: date) -> str:
    return on.strftime("%A %-d %B %Y")


def email(
    state: CaseState,
    key: str,
    template: EmailTemplate,
    recipients: list[MailRecipient],
    *,
    on: date,
    detail: str = "",
    invite: CalendarInvite | None = None,
) -> EmailRequest:
    """An email with the context every template may use: case_ref, child_name, parent_name,
    school_urn, officer, date and detail; `officer_ref` names the officer for the email activity, which
    fills in their name and contact details (`officer`, `officer_contact`) from its directory."""
    return EmailRequest(
        idempotency_key=f"{state.case_ref}:{key}",
        case_ref=state.case_ref,
        template=template,
        recipients=recipients,
        context={
            "case_ref": state.case_ref,
            "child_name": f"{state.child.given_name} {state.child.family_name}",
            "parent_name": state.parent.name,
            "school_urn": state.school_urn,
            "officer": state.officer or "to be assigned",
            "officer_ref": state.officer or "",
            "date": _day(on),
            "detail": detail,
        },
        invite=invite,
    )
