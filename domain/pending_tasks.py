"""What a case is waiting on, from whom, by when: derived from the state and the clocks, never stored,
so that a moved deadline (new absence days, a rescheduled review) moves the task with it."""

from datetime import date

from domain.case_commands import ReviewOutcome
from domain.case_context import CaseContext
from domain.case_state import CaseState, ConsentStatus, HospitalStay, PendingTask, TaskKind
from domain.people import Role
from domain.stages import Stage

_BEFORE_COMMISSIONING = {Stage.NOTIFIED, Stage.AWAITING_CONSENT, Stage.GATHERING_EVIDENCE, Stage.DECIDING}
_BEFORE_PROVISION = {Stage.NOTIFIED, Stage.AWAITING_CONSENT, Stage.GATHERING_EVIDENCE, Stage.DECIDING,
                     Stage.COMMISSIONING}


def decision_due_on(state: CaseState, ctx: CaseContext) -> date | None:
    """Five school days after the evidence is complete or its deadline passes."""
    clocks = ctx.clocks
    if state.stage is Stage.DECIDING and state.evidence_closed_on:
        return ctx.after(state.evidence_closed_on, clocks.decision_due_after)
    if state.stage is Stage.GATHERING_EVIDENCE and state.evidence_opened_on:
        deadline = ctx.after(state.evidence_opened_on, clocks.evidence_decide_after)
        return ctx.after(deadline, clocks.decision_due_after)
    return None


def hospital_referral_due_on(stay: HospitalStay, ctx: CaseContext) -> date:
    """A referral for hospital education is due as soon as it is clear the child cannot return
    within `hospital_referral_after` school days of admission: on the day an expected discharge
    beyond that was recorded, or else on that school day itself."""
    regular = ctx.after(stay.admitted_on, ctx.clocks.hospital_referral_after)
    if stay.expected_discharge is not None and stay.expected_discharge > regular:
        return min(regular, stay.recorded_on or stay.admitted_on)
    return regular


def review_escalation_on(review_target: date, ctx: CaseContext) -> date:
    return ctx.after(review_target, ctx.clocks.review_escalate_after)


def pending_tasks(state: CaseState, ctx: CaseContext) -> list[PendingTask]:
    clocks, today = ctx.clocks, ctx.today
    officer = state.officer
    tasks: list[PendingTask] = []

    def add(id_: str, kind: TaskKind, description: str, role: Role | str, due: date, *,
            assignee: str | None = officer, escalated: bool = False) -> None:
        tasks.append(PendingTask(id=id_, kind=kind, description=description, assignee_role=role,
                                 assignee=assignee, due_on=due, overdue=today > due, escalated=escalated))

    opened = state.opened_at.date()
    if state.stage is Stage.NOTIFIED:
        add("request-consent", TaskKind.REQUEST_CONSENT, "Ask the parent for consent to contact health "
            "professionals", Role.CASEWORKER, ctx.after(opened, 1))
    if state.stage is Stage.AWAITING_CONSENT and state.consent is ConsentStatus.REQUESTED:
        asked = state.consent_requested_on or opened
        add("reply-to-consent", TaskKind.REPLY_TO_CONSENT, "Parent to reply to the consent request", "parent",
            ctx.after(asked, clocks.consent_parent_reminder_after), assignee=None)
        add("follow-up-consent", TaskKind.FOLLOW_UP_CONSENT, "Follow up consent, or decide on the evidence held",
            Role.CASEWORKER, ctx.after(asked, clocks.consent_officer_task_after))
    if state.stage is Stage.GATHERING_EVIDENCE:
        for request in state.evidence_requests:
            if request.received_on is None:
                add(f"send-evidence:{request.professional_id}", TaskKind.SEND_EVIDENCE,
                    "Health professional to send evidence", "professional",
                    ctx.after(request.requested_on, clocks.evidence_chase_after), assignee=request.professional_id)
    if state.stage in _BEFORE_COMMISSIONING and state.threshold_date is not None and not ctx.legacy_rules:
        # The statutory clock runs from the absence, not from the stage: a case notified after its
        # 15-day point is late from the start, and shows so.
        add("provision-due", TaskKind.PROVISION_DUE,
            "Provision due by the 15th school day of absence: decide and commission", Role.CASEWORKER,
            state.threshold_date)
    due = decision_due_on(state, ctx)
    if due is not None:
        add("decide", TaskKind.DECIDE, "Make the referral decision on the evidence held", Role.CASEWORKER, due)
    if state.stage is Stage.COMMISSIONING:
        decided = state.decided_on or today
        due = state.threshold_date if state.threshold_date else ctx.after(decided, clocks.decision_due_after)
        add("commission-provision", TaskKind.COMMISSION_PROVISION,
            "Commission provision (due by the 15th school day of absence)", Role.CASEWORKER, due)
        if officer is None:
            add("assign-officer", TaskKind.ASSIGN_OFFICER, "Name the education officer", Role.SUPERVISOR,
                ctx.after(decided, 1), assignee=None)
    review = state.next_review
    if state.stage in (Stage.IN_PROVISION, Stage.REINTEGRATING) and review is not None:
        target = review.target_date
        add(f"hold-{review.id}", TaskKind.HOLD_REVIEW, "Hold the Team Around School review", Role.CASEWORKER,
            target, escalated=today >= review_escalation_on(target, ctx))
    plan = state.reintegration
    if state.stage is Stage.REINTEGRATING and plan is None and not ctx.legacy_rules:
        started = next((r.held_on for r in reversed(state.reviews)
                        if r.outcome is ReviewOutcome.START_REINTEGRATION and r.held_on), state.last_progress_on)
        add("agree-plan", TaskKind.AGREE_PLAN,
            "Agree the reintegration plan (a part-time timetable with an end date) with the family and school",
            Role.CASEWORKER, ctx.after(started, clocks.plan_due_after))
    if state.stage is Stage.REINTEGRATING and plan is not None:
        add("confirm-return", TaskKind.CONFIRM_RETURN_OR_EXTEND,
            "Confirm full-time return, or extend the part-time timetable with a reason", Role.CASEWORKER,
            plan.end_date)
    if state.in_hospital and state.stage in _BEFORE_PROVISION:
        stay = state.hospital_stays[-1]
        add("hospital-referral", TaskKind.HOSPITAL_REFERRAL,
            "Refer for hospital education: the child may not return within 15 school days", Role.CASEWORKER,
            hospital_referral_due_on(stay, ctx))
    return sorted(tasks, key=lambda t: (t.due_on, t.id))
