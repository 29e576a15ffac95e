"""The templates: one per kind, subjects carrying only the case reference, every one rendering
from a request the domain builds, and a missing variable a non-retryable error."""

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.email import TEMPLATE_DIR, render, required_variables
from domain.email_models import EmailTemplate
from tests.email_activities.mail_support import CASE, CHILD_NAME, PARENT, review_invitation


async def test_missing_template_variable_is_non_retryable(smtp_server, smtp_activities):
    _, handler = smtp_server
    request = review_invitation("missing-var")
    del request.context["date"]
    with pytest.raises(ApplicationError) as info:
        await ActivityEnvironment().run(smtp_activities.send_email, request)
    assert info.value.non_retryable
    assert info.value.type == "MissingTemplateVariable"
    assert "'date'" in str(info.value)
    assert CHILD_NAME not in str(info.value) and PARENT not in str(info.value)
    assert handler.messages == []


# The keys `domain.case_effects.email` puts in every request's context.
DOMAIN_CONTEXT_KEYS = {"case_ref", "child_name", "parent_name", "school_urn", "officer", "date", "detail"}


def test_every_template_exists_and_subjects_carry_only_the_case_ref():
    assert {p.stem for p in TEMPLATE_DIR.glob("*.txt")} == {t.value for t in EmailTemplate}
    for template in EmailTemplate:
        assert required_variables(template) <= DOMAIN_CONTEXT_KEYS, template
        context = {name: f"<{name}>" for name in required_variables(template)}
        subject, body = render(template, CASE, context)
        assert subject.startswith(f"Case {CASE}: ")
        assert "<" not in subject
        assert "Inclusion Service" in body
        assert "$" not in body


def test_every_template_renders_from_a_request_the_domain_builds():
    from datetime import date

    from domain.case_effects import email as domain_email
    from domain.case_effects import parent
    from tests.readmodel_fixtures import make_view

    state = make_view().state
    for template in EmailTemplate:
        request = domain_email(
            state, "contract", template, [parent(state)], on=date(2025, 11, 12), detail="x"
        )
        subject, body = render(request.template, request.case_ref, request.context)
        assert subject.startswith(f"Case {state.case_ref}: ")
        assert state.child.given_name not in subject and state.child.family_name not in subject
        assert "Wednesday 12 November 2025" in body or template in {
            EmailTemplate.CONSENT_REQUEST,
            EmailTemplate.CONSENT_REMINDER,
            EmailTemplate.EVIDENCE_REQUEST,
            EmailTemplate.EVIDENCE_CHASER,
            EmailTemplate.OFFICER_ASSIGNED,
        }
