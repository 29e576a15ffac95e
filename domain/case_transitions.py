"""What each command does to a case: a check that refuses a command that does not fit, and the change
it makes. Pure functions over `CaseState`; the workflow's update validators call `check`, its handlers
call `apply` and carry out the returned effects."""

from collections.abc import Callable, Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from pydantic import BaseModel

from domain import case_commands as c
from domain.absence_threshold import absence_days_in_year, threshold_date
from domain.case_context import CaseContext
from domain.case_effects import (
    Effects,
    email,
    officer_or_supervisors,
    parent,
    professional,
    record_event,
    school,
    supervisors,
)
from domain.case_state import (
    CaseNote,
    CaseState,
    ConsentStatus,
    EvidenceItem,
    EvidenceRequest,
    Extension,
    HospitalStay,
    ReintegrationPlan,
    Review,
    SupervisorAlert,
)
from domain.document_models import GeneratedDocument
from domain.email_models import CalendarInvite, EmailRequest, EmailTemplate
from domain.people import Child
from domain.provision import total_hours
from domain.recoupment import RecoupmentLine, SchoolSpell, key_stage_on, recoupment_lines
from domain.stages import Action, Stage, allowed_actions, is_allowed


class CommandRejected(Exception):
    """A command that does not fit the case. `kind` is `ActionNotAllowed` (wrong stage) or
    `InvalidCommand` (bad for this case). Messages never carry personal data."""

    def __init__(self, message: str, *, kind: str, stage: Stage) -> None:
        super().__init__(message)
        self.kind = kind
        self.stage = stage
        self.allowed_actions = allowed_actions(stage)


def _invalid(state: CaseState, message: str) -> CommandRejected:
    return CommandRejected(message, kind="InvalidCommand", stage=state.stage)


Check = Callable[[CaseState, c.Command, CaseContext], None]
Apply = Callable[[CaseState, c.Command, CaseContext], tuple[str | None, Effects]]

_CHECKS: dict[Action, Check] = {}
_APPLIES: dict[Action, Apply] = {}

COMMAND_TYPES: dict[Action, type[c.Command]] = {
    Action.RECORD_ABSENCE_DAYS: c.RecordAbsenceDays,
    Action.REQUEST_CONSENT: c.RequestConsent,
    Action.RECORD_CONSENT: c.RecordConsent,
    Action.REQUEST_EVIDENCE: c.RequestEvidence,
    Action.RECORD_EVIDENCE: c.RecordEvidence,
    Action.DECIDE: c.Decide,
    Action.COMMISSION_PROVISION: c.CommissionProvision,
    Action.ASSIGN_OFFICER: c.AssignOfficer,
    Action.SCHEDULE_REVIEW: c.ScheduleReview,
    Action.RECORD_REVIEW_OUTCOME: c.RecordReviewOutcome,
    Action.RECORD_HOSPITAL_ADMISSION: c.RecordHospitalAdmission,
    Action.RECORD_HOSPITAL_DISCHARGE: c.RecordHospitalDischarge,
    Action.AGREE_REINTEGRATION_PLAN: c.AgreeReintegrationPlan,
    Action.EXTEND_REINTEGRATION: c.ExtendReintegration,
    Action.CONFIRM_FULL_TIME_RETURN: c.ConfirmFullTimeReturn,
    Action.CHANGE_SCHOOL: c.ChangeSchool,
    Action.ADD_NOTE: c.AddNote,
    Action.CLOSE: c.CloseCase,
}


def _rule(action: Action, check: Check | None = None):
    def register(apply: Apply) -> Apply:
        _APPLIES[action] = apply
        if check is not None:
            _CHECKS[action] = check
        return apply

    return register


def check(state: CaseState, action: Action, cmd: c.Command, ctx: CaseContext | None) -> None:
    """Refuse a command that does not fit. `ctx` is None while the case's rules are still loading:
    then only the stage is checked, and `apply` checks the rest."""
    if not is_allowed(state.stage, action):
        raise CommandRejected(
            f"'{action.value}' is not allowed while the case is {state.stage.value}; "
            f"allowed now: {', '.join(allowed_actions(state.stage)) or 'none (the case is closed)'}",
            kind="ActionNotAllowed",
            stage=state.stage,
        )
    if not isinstance(cmd, COMMAND_TYPES[action]):
        raise _invalid(state, f"'{action.value}' takes a {COMMAND_TYPES[action].__name__}")
    if ctx is not None:
        _check_dates(state, cmd, ctx)
    if ctx is not None and action in _CHECKS:
        _CHECKS[action](state, cmd, ctx)


#: How far after today a command may date anything (a review, a plan's end, an expected return).
DATE_HORIZON = timedelta(days=366)


def _dates(value: object, name: str) -> Iterator[tuple[str, date]]:
    """Every date a command carries, with its field's name (`provisions[0].start_date`)."""
    if isinstance(value, date):
        yield name, value
    elif isinstance(value, BaseModel):
        for field in type(value).model_fields:
            yield from _dates(getattr(value, field), f"{name}.{field}" if name else field)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _dates(item, f"{name}[{i}]")


def _check_dates(state: CaseState, cmd: c.Command, ctx: CaseContext) -> None:
    """A date outside the school calendar the case holds cannot be counted in school days: refuse it
    here, or a clock computed from it later (a task's due date, a charge) would fail the case."""
    first = ctx.calendar.data.first_day()
    last = min(ctx.today + DATE_HORIZON, ctx.calendar.data.last_day())
    for name, day in _dates(cmd, ""):
        if not first <= day <= last:
            raise _invalid(state, f"{name} {day.isoformat()} is outside the dates this case can take "
                           f"({first.isoformat()} to {last.isoformat()})")


def apply(state: CaseState, action: Action, cmd: c.Command, ctx: CaseContext) -> Effects:
    """Check, then change the case, record the event on the timeline and return the effects."""
    check(state, action, cmd, ctx)
    summary, effects = _APPLIES[action](state, cmd, ctx)
    if summary is None:  # nothing changed (e.g. a notification sent again with no new days)
        return effects
    record_event(state, at=ctx.now, actor=cmd.actor, action=action.value, summary=summary)
    state.last_progress_on = ctx.today
    state.stalled = False
    return effects


def refresh_threshold(state: CaseState, ctx: CaseContext) -> None:
    """Recompute the 15-day point from the recorded and expected absence."""
    days = absence_days_in_year(
        recorded=state.absence_days,
        first_day_of_absence=state.first_day_of_absence,
        expected_return=state.expected_return,
        calendar=ctx.calendar,
        threshold=ctx.clocks.absence_threshold_days,
    )
    state.threshold_date = threshold_date(days, ctx.clocks.absence_threshold_days)


def _key(state: CaseState, name: str) -> str:
    """An idempotency key unique to the event being recorded now."""
    return f"{len(state.timeline) + 1}:{name}"


def _require_school_day(state: CaseState, ctx: CaseContext, day: date, what: str) -> None:
    try:
        ok = ctx.calendar.is_school_day(day)
    except ValueError:
        ok = False
    if not ok:
        raise _invalid(state, f"{what} {day.isoformat()} is not a school day")


# --- absence ---------------------------------------------------------------------------------------


def _check_absence(state: CaseState, cmd: c.RecordAbsenceDays, ctx: CaseContext) -> None:
    for day in cmd.days:
        _require_school_day(state, ctx, day, "absence day")
        if day > ctx.today:
            raise _invalid(state, f"absence day {day.isoformat()} is in the future; give expected_return instead")
    if cmd.expected_return is not None and cmd.expected_return <= state.first_day_of_absence:
        raise _invalid(state, "expected_return must be after the first day of absence")


@_rule(Action.RECORD_ABSENCE_DAYS, _check_absence)
def _record_absence(state: CaseState, cmd: c.RecordAbsenceDays, ctx: CaseContext) -> tuple[str | None, Effects]:
    new = sorted(set(cmd.days) - set(state.absence_days))
    if not new and cmd.expected_return in (None, state.expected_return):
        return None, Effects()
    state.absence_days = sorted(set(state.absence_days) | set(new))
    if cmd.expected_return is not None:
        state.expected_return = cmd.expected_return
    before = state.threshold_date
    refresh_threshold(state, ctx)
    summary = f"{len(new)} absence day(s) recorded; {len(state.absence_days)} recorded in all"
    if state.threshold_date and state.threshold_date != before:
        summary += f"; 15-day point {state.threshold_date.isoformat()}"
    return summary, Effects()


# --- consent ---------------------------------------------------------------------------------------


@_rule(Action.REQUEST_CONSENT)
def _request_consent(state: CaseState, cmd: c.RequestConsent, ctx: CaseContext) -> tuple[str, Effects]:
    state.consent = ConsentStatus.REQUESTED
    state.consent_requested_on = ctx.today
    state.stage = Stage.AWAITING_CONSENT
    mail = email(state, _key(state, "consent-request"), EmailTemplate.CONSENT_REQUEST, [parent(state)], on=ctx.today)
    return "consent requested from the parent", Effects(emails=[mail])


@_rule(Action.RECORD_CONSENT)
def _record_consent(state: CaseState, cmd: c.RecordConsent, ctx: CaseContext) -> tuple[str, Effects]:
    state.consent = ConsentStatus(cmd.decision.value)
    state.consent_decided_on = ctx.today
    if cmd.decision is c.ConsentDecision.GRANTED:
        known = {p.id: p for p in state.professionals}
        known.update({p.id: p for p in cmd.professionals})
        state.professionals = list(known.values())
        if state.stage in (Stage.NOTIFIED, Stage.AWAITING_CONSENT):
            state.stage = Stage.GATHERING_EVIDENCE
            state.evidence_opened_on = ctx.today
            state.evidence_closed_on = None
        return f"consent granted for {len(cmd.professionals)} professional(s)", Effects()
    # Refused or withdrawn: no stall. The officer decides on the evidence held.
    state.evidence_requests = [r for r in state.evidence_requests if r.received_on is not None]
    if state.stage in (Stage.NOTIFIED, Stage.AWAITING_CONSENT, Stage.GATHERING_EVIDENCE):
        state.stage = Stage.DECIDING
        state.evidence_closed_on = ctx.today
    return f"consent {cmd.decision.value}; decision to be made on the evidence held", Effects()


# --- evidence --------------------------------------------------------------------------------------


def _check_request_evidence(state: CaseState, cmd: c.RequestEvidence, ctx: CaseContext) -> None:
    if state.consent is not ConsentStatus.GRANTED:
        raise _invalid(state, "evidence can be requested only with the parent's consent (consent is "
                       f"{state.consent.value})")
    known = {p.id for p in state.professionals}
    unknown = [pid for pid in cmd.professional_ids if pid not in known]
    if unknown:
        raise _invalid(state, f"no consent to contact professional(s): {', '.join(unknown)}")


@_rule(Action.REQUEST_EVIDENCE, _check_request_evidence)
def _request_evidence(state: CaseState, cmd: c.RequestEvidence, ctx: CaseContext) -> tuple[str, Effects]:
    if state.stage is Stage.DECIDING:
        state.stage = Stage.GATHERING_EVIDENCE
        state.evidence_opened_on = ctx.today
        state.evidence_closed_on = None
    open_ids = {r.professional_id for r in state.evidence_requests if r.received_on is None}
    effects = Effects()
    by_id = {p.id: p for p in state.professionals}
    for pid in dict.fromkeys(cmd.professional_ids):
        if pid in open_ids:
            continue
        state.evidence_requests.append(EvidenceRequest(professional_id=pid, requested_on=ctx.today))
        effects.emails.append(
            email(state, _key(state, f"evidence-request:{pid}"), EmailTemplate.EVIDENCE_REQUEST,
                  [professional(by_id[pid])], on=ctx.today)
        )
    return f"evidence requested from {len(effects.emails)} professional(s)", effects


def _check_record_evidence(state: CaseState, cmd: c.RecordEvidence, ctx: CaseContext) -> None:
    if cmd.professional_id is not None and cmd.professional_id not in {p.id for p in state.professionals}:
        raise _invalid(state, f"unknown professional: {cmd.professional_id}")
    if any(e.document_ref == cmd.document_ref for e in state.evidence):
        raise _invalid(state, "this document is already recorded as evidence")
    if cmd.received_on is not None and cmd.received_on > ctx.today:
        raise _invalid(state, "received_on is in the future")


@_rule(Action.RECORD_EVIDENCE, _check_record_evidence)
def _record_evidence(state: CaseState, cmd: c.RecordEvidence, ctx: CaseContext) -> tuple[str, Effects]:
    state.evidence.append(
        EvidenceItem(document_ref=cmd.document_ref, kind=cmd.kind, professional_id=cmd.professional_id,
                     received_on=cmd.received_on or ctx.today)
    )
    for request in state.evidence_requests:
        if request.professional_id == cmd.professional_id and request.received_on is None:
            request.received_on = ctx.today
    complete = state.evidence_requests and all(r.received_on for r in state.evidence_requests)
    if state.stage is Stage.GATHERING_EVIDENCE and complete:
        state.stage = Stage.DECIDING
        state.evidence_closed_on = ctx.today
        return f"evidence received ({cmd.kind.value}); all requested evidence is in", Effects()
    return f"evidence received ({cmd.kind.value})", Effects()


# --- decision --------------------------------------------------------------------------------------


@_rule(Action.DECIDE)
def _decide(state: CaseState, cmd: c.Decide, ctx: CaseContext) -> tuple[str, Effects]:
    state.decision = cmd.outcome
    state.decision_reason = cmd.reason
    state.decided_on = ctx.today
    if state.evidence_closed_on is None:
        state.evidence_closed_on = ctx.today
    if cmd.outcome is c.DecisionOutcome.MORE_EVIDENCE:
        state.stage = Stage.GATHERING_EVIDENCE if state.consent is ConsentStatus.GRANTED else Stage.AWAITING_CONSENT
        state.evidence_opened_on = ctx.today
        state.evidence_closed_on = None
        return "more evidence needed before a decision", Effects()
    letter = email(state, _key(state, "decision"), EmailTemplate.DECISION_LETTER, [parent(state), school(state)],
                   on=ctx.today, detail=_DECISION_WORDS[cmd.outcome])
    if cmd.outcome is c.DecisionOutcome.NOT_ELIGIBLE:
        _close(state, c.CloseOutcome.NOT_ELIGIBLE, ctx.today, cmd.reason)
    else:
        state.stage = Stage.COMMISSIONING
    return f"decision: {cmd.outcome.value}", Effects(emails=[letter])


_DECISION_WORDS = {
    c.DecisionOutcome.LA_PROVISION: "The local authority will arrange education for your child.",
    c.DecisionOutcome.SCHOOL_WORK: "Your child's school will provide work, with advice from the Inclusion Service.",
    c.DecisionOutcome.NOT_ELIGIBLE: "The Inclusion Service will not arrange education at this time.",
}


# --- provision and officer -------------------------------------------------------------------------


def _check_commission(state: CaseState, cmd: c.CommissionProvision, ctx: CaseContext) -> None:
    if not (cmd.officer or state.officer):
        raise _invalid(state, "name the education officer: provision is commissioned with a named officer")
    start = min(p.start_date for p in cmd.provisions)
    hours = total_hours(cmd.provisions, start)
    full_time = Decimal(str(ctx.clocks.full_time_hours_per_week))
    if hours < full_time and not (cmd.part_time_health_reason or "").strip():
        raise _invalid(
            state,
            f"{hours} hours a week is less than full time ({full_time}): record the health reason "
            "(Education Act 1996 s19(3AA)); cost is never a reason",
        )
    for p in cmd.provisions:
        if p.end_date is not None and p.end_date < p.start_date:
            raise _invalid(state, f"{p.kind.value}: end_date is before start_date")


@_rule(Action.COMMISSION_PROVISION, _check_commission)
def _commission(state: CaseState, cmd: c.CommissionProvision, ctx: CaseContext) -> tuple[str, Effects]:
    effects = Effects()
    start = min(p.start_date for p in cmd.provisions)
    for line in state.provisions:
        if line.end_date is None or line.end_date >= start:
            line.end_date = start - timedelta(days=1)
    state.provisions = [p for p in state.provisions if p.end_date is None or p.end_date >= p.start_date]
    state.provisions += [p.model_copy() for p in cmd.provisions]
    state.part_time_health_reason = cmd.part_time_health_reason or state.part_time_health_reason
    if cmd.officer and cmd.officer != state.officer:
        effects.extend(_assign(state, cmd.officer, ctx))
    if state.provision_started_on is None:
        state.provision_started_on = start
        state.school_spells = [SchoolSpell(school_urn=state.school_urn, from_date=start, to_date=None)]
        first_review = ctx.after(start, ctx.clocks.review_interval_days)
        state.reviews.append(Review(id="review-1", due_on=first_review))
    if state.stage is Stage.COMMISSIONING:
        state.stage = Stage.IN_PROVISION
    kinds = ", ".join(sorted({p.kind.value for p in cmd.provisions}))
    return f"provision commissioned from {start.isoformat()}: {kinds}", effects


def _assign(state: CaseState, officer: str, ctx: CaseContext) -> Effects:
    state.officer = officer
    mail = email(state, _key(state, f"officer:{officer}"), EmailTemplate.OFFICER_ASSIGNED, [parent(state)],
                 on=ctx.today)
    return Effects(emails=[mail])


@_rule(Action.ASSIGN_OFFICER)
def _assign_officer(state: CaseState, cmd: c.AssignOfficer, ctx: CaseContext) -> tuple[str, Effects]:
    return f"education officer assigned: {cmd.officer}", _assign(state, cmd.officer, ctx)


# --- reviews ---------------------------------------------------------------------------------------


def review_invite(state: CaseState, review: Review, ctx: CaseContext) -> CalendarInvite:
    starts = datetime.combine(review.target_date, time(10, 0))  # naive: local (Europe/London) time
    return CalendarInvite(uid=f"{state.case_ref}-{review.id}@casework", starts_at=starts,
                          summary=f"TAS review {state.case_ref}")


def _check_schedule_review(state: CaseState, cmd: c.ScheduleReview, ctx: CaseContext) -> None:
    if cmd.on < ctx.today:
        raise _invalid(state, "a review cannot be scheduled in the past")
    _require_school_day(state, ctx, cmd.on, "review date")


@_rule(Action.SCHEDULE_REVIEW, _check_schedule_review)
def _schedule_review(state: CaseState, cmd: c.ScheduleReview, ctx: CaseContext) -> tuple[str, Effects]:
    review = state.next_review
    if review is None:
        review = Review(id=f"review-{len(state.reviews) + 1}", due_on=cmd.on)
        state.reviews.append(review)
    review.scheduled_on = cmd.on
    invite = email(state, _key(state, f"review-invite:{review.id}"), EmailTemplate.REVIEW_INVITATION,
                   [parent(state), school(state), officer_or_supervisors(state)], on=cmd.on,
                   invite=review_invite(state, review, ctx))
    return f"{review.id} scheduled for {cmd.on.isoformat()}", Effects(emails=[invite])


def _check_review_outcome(state: CaseState, cmd: c.RecordReviewOutcome, ctx: CaseContext) -> None:
    if state.next_review is None:
        raise _invalid(state, "there is no open review to record an outcome for")
    if cmd.held_on > ctx.today:
        raise _invalid(state, "held_on is in the future")
    if cmd.outcome is c.ReviewOutcome.START_REINTEGRATION and state.stage is Stage.REINTEGRATING:
        raise _invalid(state, "the case is already reintegrating")


@_rule(Action.RECORD_REVIEW_OUTCOME, _check_review_outcome)
def _review_outcome(state: CaseState, cmd: c.RecordReviewOutcome, ctx: CaseContext) -> tuple[str, Effects]:
    review = state.next_review
    if review is None:  # _check_review_outcome refuses this first
        raise _invalid(state, "no review is scheduled")
    review.held_on, review.outcome, review.notes = cmd.held_on, cmd.outcome, cmd.notes
    effects = Effects()
    if cmd.outcome is c.ReviewOutcome.CLOSE:
        if cmd.close_outcome is None:  # RecordReviewOutcome requires it for CLOSE
            raise _invalid(state, "close_outcome is required to close at a review")
        effects = _close(state, cmd.close_outcome, cmd.held_on, "closed at TAS review", ctx)
    else:
        next_due = ctx.after(max(cmd.held_on, ctx.today), ctx.clocks.review_interval_days)
        state.reviews.append(Review(id=f"review-{len(state.reviews) + 1}", due_on=next_due))
        if cmd.outcome is c.ReviewOutcome.START_REINTEGRATION:
            state.stage = Stage.REINTEGRATING
    return f"{review.id} held {cmd.held_on.isoformat()}: {cmd.outcome.value}", effects


# --- hospital --------------------------------------------------------------------------------------


def _check_admission(state: CaseState, cmd: c.RecordHospitalAdmission, ctx: CaseContext) -> None:
    if state.in_hospital:
        raise _invalid(state, "the child is already recorded as in hospital")
    if cmd.admitted_on > ctx.today:
        raise _invalid(state, "admitted_on is in the future")


@_rule(Action.RECORD_HOSPITAL_ADMISSION, _check_admission)
def _admission(state: CaseState, cmd: c.RecordHospitalAdmission, ctx: CaseContext) -> tuple[str, Effects]:
    state.hospital_stays.append(HospitalStay(hospital=cmd.hospital, admitted_on=cmd.admitted_on))
    return f"hospital admission {cmd.admitted_on.isoformat()}", Effects()


def _check_discharge(state: CaseState, cmd: c.RecordHospitalDischarge, ctx: CaseContext) -> None:
    if not state.in_hospital:
        raise _invalid(state, "the child is not recorded as in hospital")
    stay = state.hospital_stays[-1]
    if cmd.discharged_on < stay.admitted_on:
        raise _invalid(state, "discharged_on is before the admission")
    if cmd.discharged_on > ctx.today:
        raise _invalid(state, "discharged_on is in the future")


@_rule(Action.RECORD_HOSPITAL_DISCHARGE, _check_discharge)
def _discharge(state: CaseState, cmd: c.RecordHospitalDischarge, ctx: CaseContext) -> tuple[str, Effects]:
    stay = state.hospital_stays[-1]
    stay.discharged_on = cmd.discharged_on
    days = ctx.calendar.school_days_between(stay.admitted_on, cmd.discharged_on)
    return f"hospital discharge {cmd.discharged_on.isoformat()} after {days} school day(s)", Effects()


# --- reintegration ---------------------------------------------------------------------------------


def _check_plan(state: CaseState, cmd: c.AgreeReintegrationPlan, ctx: CaseContext) -> None:
    if cmd.end_date <= ctx.today:
        raise _invalid(state, "the part-time timetable's end date must be in the future")


@_rule(Action.AGREE_REINTEGRATION_PLAN, _check_plan)
def _agree_plan(state: CaseState, cmd: c.AgreeReintegrationPlan, ctx: CaseContext) -> tuple[str, Effects]:
    state.reintegration = ReintegrationPlan(start_date=cmd.start_date, end_date=cmd.end_date,
                                            original_end_date=cmd.end_date, hours_per_week=cmd.hours_per_week)
    state.stage = Stage.REINTEGRATING
    plan = GeneratedDocument(
        case_ref=state.case_ref,
        kind="reintegration_plan",
        title=f"Reintegration plan {state.case_ref}",
        body=(
            f"Part-time timetable of {cmd.hours_per_week:g} hours a week from {cmd.start_date.isoformat()} "
            f"to {cmd.end_date.isoformat()}, when the child returns full-time or the plan is reviewed.\n"
            f"Named education officer: {state.officer or 'to be assigned'}.\n"
        ),
    )
    mail = email(state, _key(state, "plan"), EmailTemplate.PART_TIME_ENDING, [parent(state), school(state)],
                 on=cmd.end_date, detail=f"A part-time timetable runs from {cmd.start_date.isoformat()}.")
    return f"reintegration plan agreed to {cmd.end_date.isoformat()}", Effects(emails=[mail], documents=[plan])


def _check_extension(state: CaseState, cmd: c.ExtendReintegration, ctx: CaseContext) -> None:
    if state.reintegration is None:
        raise _invalid(state, "there is no reintegration plan to extend")
    if cmd.new_end_date <= state.reintegration.end_date:
        raise _invalid(state, "an extension must move the end date later")


@_rule(Action.EXTEND_REINTEGRATION, _check_extension)
def _extend(state: CaseState, cmd: c.ExtendReintegration, ctx: CaseContext) -> tuple[str, Effects]:
    plan = state.reintegration
    if plan is None:  # _check_extension refuses this first
        raise _invalid(state, "there is no part-time timetable to extend")
    plan.extensions.append(Extension(new_end_date=cmd.new_end_date, reason=cmd.reason, agreed_on=ctx.today))
    plan.end_date = cmd.new_end_date
    effects = Effects()
    n = len(plan.extensions)
    if n > ctx.clocks.part_time_extensions_before_alert:
        detail = f"part-time timetable extended {n} times (now to {cmd.new_end_date.isoformat()})"
        effects.emails.append(raise_alert(state, "part_time_extended", detail, ctx, key=_key(state, "alert")))
    return f"part-time timetable extended to {cmd.new_end_date.isoformat()} (extension {n})", effects


def raise_alert(state: CaseState, kind: str, detail: str, ctx: CaseContext, *, key: str,
                template: EmailTemplate = EmailTemplate.SUPERVISOR_ALERT) -> EmailRequest:
    """Raise a supervisor alert on the case and return the email that tells supervisors."""
    state.alerts.append(SupervisorAlert(kind=kind, raised_on=ctx.today, detail=detail))
    return email(state, key, template, [supervisors()], on=ctx.today, detail=detail)


@_rule(Action.CONFIRM_FULL_TIME_RETURN)
def _full_time(state: CaseState, cmd: c.ConfirmFullTimeReturn, ctx: CaseContext) -> tuple[str, Effects]:
    state.returned_full_time_on = cmd.returned_on
    effects = _close(state, c.CloseOutcome.RETURNED_FULL_TIME, cmd.returned_on, None, ctx)
    return f"full-time return from {cmd.returned_on.isoformat()}", effects


# --- school change, notes, closure -----------------------------------------------------------------


def _check_school_change(state: CaseState, cmd: c.ChangeSchool, ctx: CaseContext) -> None:
    if cmd.new_school_urn == state.school_urn:
        raise _invalid(state, "the child is already on this school's roll")
    if state.school_spells and cmd.effective_on <= state.school_spells[-1].from_date:
        raise _invalid(state, "effective_on must be after the current school's spell began")


@_rule(Action.CHANGE_SCHOOL, _check_school_change)
def _change_school(state: CaseState, cmd: c.ChangeSchool, ctx: CaseContext) -> tuple[str, Effects]:
    if state.school_spells:
        ending = state.school_spells[-1].model_copy(update={"to_date": cmd.effective_on - timedelta(days=1)})
        state.school_spells[-1] = ending
        state.school_spells.append(SchoolSpell(school_urn=cmd.new_school_urn, from_date=cmd.effective_on, to_date=None))
    old = state.school_urn
    state.school_urn = cmd.new_school_urn
    return f"school changed from {old} to {cmd.new_school_urn} on {cmd.effective_on.isoformat()}", Effects()


@_rule(Action.ADD_NOTE)
def _add_note(state: CaseState, cmd: c.AddNote, ctx: CaseContext) -> tuple[str, Effects]:
    state.notes.append(CaseNote(at=ctx.now, actor=cmd.actor, text=cmd.text))
    return "case note added", Effects()


def _check_close(state: CaseState, cmd: c.CloseCase, ctx: CaseContext) -> None:
    if cmd.closed_on is not None and cmd.closed_on > ctx.today:
        raise _invalid(state, "closed_on is in the future")


@_rule(Action.CLOSE, _check_close)
def _close_case(state: CaseState, cmd: c.CloseCase, ctx: CaseContext) -> tuple[str, Effects]:
    effects = _close(state, cmd.outcome, cmd.closed_on or ctx.today, cmd.reason, ctx)
    return f"case closed: {cmd.outcome.value}", effects


def _close(state: CaseState, outcome: c.CloseOutcome, on: date, reason: str | None, ctx: CaseContext | None = None,
           ) -> Effects:
    state.stage = Stage.CLOSED
    state.close_outcome = outcome
    state.closed_on = on
    state.close_reason = reason
    effects = Effects()
    if ctx is not None:
        effects.recoupment = settlement_lines(state, ctx, until=on - timedelta(days=1))
        effects.emails.append(email(state, _key(state, "closed"), EmailTemplate.CASE_CLOSED,
                                    [parent(state), school(state)], on=on))
    return effects


# --- recoupment ------------------------------------------------------------------------------------


def recoups(state: CaseState) -> bool:
    """The LA recoups from the school only for education it arranges itself."""
    return state.decision is c.DecisionOutcome.LA_PROVISION and state.provision_started_on is not None


def charged_until(state: CaseState) -> date | None:
    return max((line.to_date for line in state.recoupment_lines), default=None)


def _lines(state: CaseState, ctx: CaseContext, start: date, end: date, period: str) -> list[RecoupmentLine]:
    if end < start:
        return []
    return recoupment_lines(
        case_ref=state.case_ref,
        spells=state.school_spells,
        provision_from=start,
        provision_to=end,
        key_stage=key_stage_on(_child(state).date_of_birth, start),
        rates=ctx.rates,
        calendar=ctx.calendar,
        period=period,
    )


def _child(state: CaseState) -> Child:
    return state.child


def term_lines(state: CaseState, ctx: CaseContext, term_name: str) -> list[RecoupmentLine]:
    """The charges for one ended term, from where the last charge stopped."""
    if not recoups(state):
        return []
    term = next(t for t in ctx.calendar.data.terms if t.name == term_name)
    start = max(term.start, state.provision_started_on, _after(charged_until(state)))
    return _lines(state, ctx, start, term.end, term.name)


def settlement_lines(state: CaseState, ctx: CaseContext, *, until: date) -> list[RecoupmentLine]:
    """At closure: everything not yet charged, up to the last day of provision."""
    if not recoups(state):
        return []
    start = max(state.provision_started_on, _after(charged_until(state)))
    return _lines(state, ctx, start, until, "settlement")


def _after(day: date | None) -> date:
    return date.min if day is None else day + timedelta(days=1)
