"""Who the people an email is for are, from settings: each recipient's address (role mailboxes, the
officer directory), the name a calendar invitation gives them, and what every letter may quote about
the council (the named officer's name and contact details, the complaints route).

An officer missing from the directory (`Settings.officers`) is named by their login name and mailed at
`<login>@officer_mail_domain`, as before the directory existed."""

from __future__ import annotations

from dataclasses import dataclass

from domain.email_models import EmailRequest, MailRecipient, RecipientRole
from infra.settings import Settings

NO_OFFICER = "to be assigned"


@dataclass(frozen=True)
class OfficerDetails:
    name: str
    mailbox: str
    phone: str | None = None

    @property
    def contact(self) -> str:
        """How to reach them, in a sentence: "email x" or "email x or telephone y"."""
        return f"email at {self.mailbox}" + (f" or telephone on {self.phone}" if self.phone else "")

    @property
    def in_brackets(self) -> str:
        return f"{self.name} ({', '.join(p for p in (self.mailbox, self.phone) if p)})"


def officer_details(settings: Settings, ref: str | None) -> OfficerDetails | None:
    if not ref:
        return None
    fallback = f"{ref}@{settings.officer_mail_domain}"
    known = settings.officers.get(ref)
    if known is None:
        return OfficerDetails(name=ref, mailbox=fallback)
    return OfficerDetails(name=known.name, mailbox=str(known.email) if known.email else fallback, phone=known.phone)


def address_of(recipient: MailRecipient, settings: Settings) -> str | None:
    match recipient.role:
        case RecipientRole.PARENT | RecipientRole.PROFESSIONAL:
            return recipient.address
        case RecipientRole.OFFICER:
            details = officer_details(settings, recipient.ref)
            return details.mailbox if details else None
        case RecipientRole.SUPERVISORS:
            return str(settings.supervisor_mailbox)
        case RecipientRole.SCHOOL:
            return settings.school_mailbox_template.format(urn=recipient.ref) if recipient.ref else None
    return None


def display_name_of(recipient: MailRecipient, request: EmailRequest, settings: Settings) -> str | None:
    """The name a calendar invitation shows for a recipient (CN)."""
    match recipient.role:
        case RecipientRole.PARENT:
            return request.context.get("parent_name")
        case RecipientRole.PROFESSIONAL:
            return request.context.get("professional_name")
        case RecipientRole.OFFICER:
            details = officer_details(settings, recipient.ref)
            return details.name if details else None
        case RecipientRole.SUPERVISORS:
            return "Inclusion Service supervisors"
        case RecipientRole.SCHOOL:
            return f"School office {recipient.ref}"
    return None


def filled_context(request: EmailRequest, settings: Settings) -> dict[str, str]:
    """The request's context with what settings supply: the named officer's name (`officer`) and how to
    reach them (`officer_contact`), and the council's complaints route (`complaints_route`)."""
    context = dict(request.context)
    # A request built before `officer_ref` existed names the officer by login in `officer`.
    ref = context.get("officer_ref", "" if context.get("officer") == NO_OFFICER else context.get("officer"))
    details = officer_details(settings, ref)
    if details is not None:
        context["officer"] = details.name
        context["officer_contact"] = details.contact
    else:
        context.setdefault("officer", NO_OFFICER)
        context["officer_contact"] = f"email at {settings.mail_from}"
    context["complaints_route"] = settings.complaints_route
    return context
