"""What the letters of a case say, where the wording is the rule: the decision letter to the parent and
the school's own notice of it, and the reintegration plan document."""

from domain import case_commands as c
from domain.case_context import CaseContext
from domain.case_effects import email, parent, school
from domain.case_state import CaseState, ReintegrationPlan
from domain.document_models import GeneratedDocument
from domain.email_models import EmailRequest, EmailTemplate

_DECISION_WORDS = {
    c.DecisionOutcome.LA_PROVISION: "The local authority will arrange education for your child.",
    c.DecisionOutcome.SCHOOL_WORK: "Your child's school will provide work, with advice from the Inclusion Service.",
    c.DecisionOutcome.NOT_ELIGIBLE: "The Inclusion Service will not arrange education at this time.",
}
# The school's notice: what the decision asks of the school; the reasons (health detail) stay with the family.
_SCHOOL_WORDS = {
    c.DecisionOutcome.LA_PROVISION: "The local authority will arrange education for this pupil while their "
    "health keeps them from school. The named education officer will contact the school about the provision "
    "and the Team Around School reviews.",
    c.DecisionOutcome.SCHOOL_WORK: "The school is asked to provide work for this pupil, with advice from the "
    "Inclusion Service, and to keep us informed of their attendance.",
    c.DecisionOutcome.NOT_ELIGIBLE: "The Inclusion Service will not arrange education for this pupil at this "
    "time. The pupil's education remains with the school; please tell us if their absence continues or "
    "their health changes.",
}


def decision_letters(state: CaseState, outcome: c.DecisionOutcome, reason: str, ctx: CaseContext, *,
                     key: str) -> list[EmailRequest]:
    """The parent's letter, with the decision's reasons (the template adds how to challenge it), and the
    school's own notice. Before patch `letters-and-invites` (`ctx.letters` false): one letter to both."""
    if not ctx.letters:
        return [email(state, key, EmailTemplate.DECISION_LETTER, [parent(state), school(state)], on=ctx.today,
                      detail=_DECISION_WORDS[outcome])]
    return [
        email(state, key, EmailTemplate.DECISION_LETTER, [parent(state)], on=ctx.today,
              detail=f"{_DECISION_WORDS[outcome]}\n\nThe reasons for our decision: {reason}"),
        email(state, f"{key}-school", EmailTemplate.DECISION_NOTICE_SCHOOL, [school(state)], on=ctx.today,
              detail=_SCHOOL_WORDS[outcome]),
    ]


def plan_document(state: CaseState, plan: ReintegrationPlan) -> GeneratedDocument:
    """The plan as it stands: its timetable, its end, and every extension with its reason. The document
    activity adds the named officer's name and contact details (`officer_ref`)."""
    lines = [f"Part-time timetable of {plan.hours_per_week:g} hours a week from {plan.start_date.isoformat()} "
             f"to {plan.end_date.isoformat()}, when the child returns full-time or the plan is reviewed."]
    if plan.extensions:
        lines.append(f"Agreed originally to {plan.original_end_date.isoformat()}.")
        lines += [f"Extended on {e.agreed_on.isoformat()} to {e.new_end_date.isoformat()}: {e.reason}"
                  for e in plan.extensions]
    if state.officer is None:
        lines.append("Named education officer: to be assigned.")
    return GeneratedDocument(case_ref=state.case_ref, kind="reintegration_plan",
                             title=f"Reintegration plan {state.case_ref}", body="\n".join(lines) + "\n",
                             officer_ref=state.officer)
