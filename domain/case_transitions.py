"""What each command does to a case: a check that refuses a command that does not fit, and the change
it makes. Pure functions over `CaseState`; the workflow's update validators call `check`, its handlers
call `apply` and carry out the returned effects."""

from datetime import timedelta
from decimal import Decimal

from domain import case_commands as c
from domain import review_invites as invites
from domain.absence_threshold import refresh_threshold
from domain.case_actions import open_actions
from domain.case_closure import close, closed_summary
from domain.case_context import CaseContext
from domain.case_effects import (
    Effects,
    email,
    evidence_email,
    officer_or_supervisors,
    parent,
    record_event,
    school,
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
)
from domain.command_dates import DATE_HORIZON, check_date_rules, check_dates, require_school_day
from domain.command_registry import APPLIES, CHECKS, COMMAND_TYPES, require_every_action, rule
from domain.command_rejection import CommandRejected, invalid
from domain.email_models import EmailTemplate
from domain.letters import decision_letters, plan_document
from domain.provision import total_hours
from domain.recoupment import SchoolSpell
from domain.review_invites import cancel_meeting, invitees, review_invite, schedule_meeting
from domain.stages import Action, Stage, is_allowed
from domain.supervisor_alerts import raise_alert

# Importable from here as before: the API and the tests use these names.
__all__ = ["COMMAND_TYPES", "DATE_HORIZON", "CommandRejected", "apply", "check", "refresh_threshold"]


def check(state: CaseState, action: Action, cmd: c.Command, ctx: CaseContext | None) -> None:
    """Refuse a command that does not fit. `ctx` is None while the case's rules are still loading:
    then only the stage is checked, and `apply` checks the rest."""
    if not is_allowed(state.stage, action):
        allowed = open_actions(state, ctx)
        raise CommandRejected(
            f"'{action.value}' is not allowed while the case is {state.stage.value}; "
            f"allowed now: {', '.join(allowed) or 'none (the case is closed)'}",
            kind="ActionNotAllowed",
            stage=state.stage,
            allowed=allowed,
        )
    if not isinstance(cmd, COMMAND_TYPES[action]):
        raise invalid(state, f"'{action.value}' takes a {COMMAND_TYPES[action].__name__}")
    if ctx is not None:
        check_dates(state, cmd, ctx)
    if ctx is not None and action in CHECKS:
        CHECKS[action](state, cmd, ctx)
    if ctx is not None:
        check_date_rules(state, cmd, ctx)


def apply(state: CaseState, action: Action, cmd: c.Command, ctx: CaseContext) -> Effects:
    """Check, then change the case, record the event on the timeline and return the effects."""
    check(state, action, cmd, ctx)
    was_open = state.stage is not Stage.CLOSED
    summary, effects = APPLIES[action](state, cmd, ctx)
    if summary is None:  # nothing changed (e.g. a notification sent again with no new days)
        return effects
    record_event(state, at=ctx.now, actor=cmd.actor, action=action.value, summary=summary)
    if was_open and state.stage is Stage.CLOSED and action is not Action.CLOSE:
        # A closure as a result of another action (a decision, a review, a return) is a closure too.
        record_event(state, at=ctx.now, actor=cmd.actor, action="closed", summary=closed_summary(state))
    state.last_progress_on = ctx.today
    state.stalled = False
    return effects


def _key(state: CaseState, name: str) -> str:
    """An idempotency key unique to the event being recorded now."""
    return f"{len(state.timeline) + 1}:{name}"


# --- absence ---------------------------------------------------------------------------------------


def _check_absence(state: CaseState, cmd: c.RecordAbsenceDays, ctx: CaseContext) -> None:
    named = [(day, f"days[{i}]") for i, day in enumerate(cmd.days)]
    named += [(day, f"half_days[{i}]") for i, day in enumerate(cmd.half_days)]
    for day, field in named:
        require_school_day(state, ctx, day, "absence day", field)
        if day > ctx.today:
            raise invalid(state, f"absence day {day.isoformat()} is in the future; give expected_return instead",
                          field)
    if cmd.expected_return is not None and cmd.expected_return <= state.first_day_of_absence:
        raise invalid(state, "expected_return must be after the first day of absence")


@rule(Action.RECORD_ABSENCE_DAYS, _check_absence)
def _record_absence(state: CaseState, cmd: c.RecordAbsenceDays, ctx: CaseContext) -> tuple[str | None, Effects]:
    new = sorted(set(cmd.days) - set(state.absence_days))
    halves = sorted(set(cmd.half_days) - set(state.absence_half_days) - set(state.absence_days) - set(new))
    if not new and not halves and cmd.expected_return in (None, state.expected_return):
        return None, Effects()
    state.absence_days = sorted(set(state.absence_days) | set(new))
    # A whole day recorded for a date that had a half day replaces it.
    state.absence_half_days = sorted((set(state.absence_half_days) | set(halves)) - set(state.absence_days))
    if cmd.expected_return is not None:
        state.expected_return = cmd.expected_return
    before = state.threshold_date
    refresh_threshold(state, ctx)
    summary = f"{len(new)} absence day(s) recorded; {len(state.absence_days)} recorded in all"
    if halves or state.absence_half_days:
        summary += f"; {len(halves)} half day(s) recorded, {len(state.absence_half_days)} in all"
    if state.threshold_date and state.threshold_date != before:
        summary += f"; 15-day point {state.threshold_date.isoformat()}"
    return summary, Effects()


# --- consent ---------------------------------------------------------------------------------------


@rule(Action.REQUEST_CONSENT)
def _request_consent(state: CaseState, cmd: c.RequestConsent, ctx: CaseContext) -> tuple[str, Effects]:
    state.consent = ConsentStatus.REQUESTED
    state.consent_requested_on = ctx.today
    state.stage = Stage.AWAITING_CONSENT
    mail = email(state, _key(state, "consent-request"), EmailTemplate.CONSENT_REQUEST, [parent(state)], on=ctx.today)
    return "consent requested from the parent", Effects(emails=[mail])


@rule(Action.RECORD_CONSENT)
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
        raise invalid(state, "evidence can be requested only with the parent's consent (consent is "
                       f"{state.consent.value})")
    known = {p.id for p in state.professionals}
    unknown = [pid for pid in cmd.professional_ids if pid not in known]
    if unknown:
        raise invalid(state, f"no consent to contact professional(s): {', '.join(unknown)}")


@rule(Action.REQUEST_EVIDENCE, _check_request_evidence)
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
            evidence_email(state, _key(state, f"evidence-request:{pid}"), EmailTemplate.EVIDENCE_REQUEST,
                           by_id[pid], on=ctx.today)
        )
    return f"evidence requested from {len(effects.emails)} professional(s)", effects


def _check_record_evidence(state: CaseState, cmd: c.RecordEvidence, ctx: CaseContext) -> None:
    if cmd.professional_id is not None and cmd.professional_id not in {p.id for p in state.professionals}:
        raise invalid(state, f"unknown professional: {cmd.professional_id}")
    if any(e.document_ref == cmd.document_ref for e in state.evidence):
        raise invalid(state, "this document is already recorded as evidence")
    if cmd.received_on is not None and cmd.received_on > ctx.today:
        raise invalid(state, "received_on is in the future")


@rule(Action.RECORD_EVIDENCE, _check_record_evidence)
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


@rule(Action.DECIDE)
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
    letters = decision_letters(state, cmd.outcome, cmd.reason, ctx, key=_key(state, "decision"))
    if cmd.outcome is c.DecisionOutcome.NOT_ELIGIBLE:
        close(state, c.CloseOutcome.NOT_ELIGIBLE, ctx.today, cmd.reason, ctx, tell=False)
    else:
        state.stage = Stage.COMMISSIONING
    return f"decision: {cmd.outcome.value}", Effects(emails=letters)


# --- provision and officer -------------------------------------------------------------------------


def _check_commission(state: CaseState, cmd: c.CommissionProvision, ctx: CaseContext) -> None:
    if not (cmd.officer or state.officer):
        raise invalid(state, "name the education officer: provision is commissioned with a named officer")
    start = min(p.start_date for p in cmd.provisions)
    hours = total_hours(cmd.provisions, start)
    full_time = Decimal(str(ctx.clocks.full_time_hours_per_week))
    if hours < full_time and not (cmd.part_time_health_reason or "").strip():
        raise invalid(
            state,
            f"{hours} hours a week is less than full time ({full_time}): record the health reason "
            "(Education Act 1996 s19(3AA)); cost is never a reason",
        )
    for p in cmd.provisions:
        if p.end_date is not None and p.end_date < p.start_date:
            raise invalid(state, f"{p.kind.value}: end_date is before start_date")


@rule(Action.COMMISSION_PROVISION, _check_commission)
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
    before = officer_or_supervisors(state)
    state.officer = officer
    mail = email(state, _key(state, f"officer:{officer}"), EmailTemplate.OFFICER_ASSIGNED, [parent(state)],
                 on=ctx.today)
    return Effects(emails=[mail, *invites.replace_invitee(state, before, ctx, _key(state, "review-reinvite"),
                                                           invites.OFFICER_CHANGED)])


@rule(Action.ASSIGN_OFFICER)
def _assign_officer(state: CaseState, cmd: c.AssignOfficer, ctx: CaseContext) -> tuple[str, Effects]:
    return f"education officer assigned: {cmd.officer}", _assign(state, cmd.officer, ctx)


# --- reviews ---------------------------------------------------------------------------------------


def _check_schedule_review(state: CaseState, cmd: c.ScheduleReview, ctx: CaseContext) -> None:
    if cmd.on < ctx.today:
        raise invalid(state, "a review cannot be scheduled in the past")
    require_school_day(state, ctx, cmd.on, "review date", "on")


@rule(Action.SCHEDULE_REVIEW, _check_schedule_review)
def _schedule_review(state: CaseState, cmd: c.ScheduleReview, ctx: CaseContext) -> tuple[str, Effects]:
    review = state.next_review
    if review is None:
        review = Review(id=f"review-{len(state.reviews) + 1}", due_on=cmd.on)
        state.reviews.append(review)
    moved = schedule_meeting(review, cmd.on)
    invite = email(state, _key(state, f"review-invite:{review.id}"), EmailTemplate.REVIEW_INVITATION,
                   invitees(state), on=cmd.on, detail=moved, invite=review_invite(state, review, ctx))
    return f"{review.id} scheduled for {cmd.on.isoformat()}", Effects(emails=[invite])


def _check_review_outcome(state: CaseState, cmd: c.RecordReviewOutcome, ctx: CaseContext) -> None:
    if state.next_review is None:
        raise invalid(state, "there is no open review to record an outcome for")
    if cmd.held_on > ctx.today:
        raise invalid(state, "held_on is in the future")
    if cmd.outcome is c.ReviewOutcome.START_REINTEGRATION and state.stage is Stage.REINTEGRATING:
        raise invalid(state, "the case is already reintegrating")


@rule(Action.RECORD_REVIEW_OUTCOME, _check_review_outcome)
def _review_outcome(state: CaseState, cmd: c.RecordReviewOutcome, ctx: CaseContext) -> tuple[str, Effects]:
    review = state.next_review
    if review is None:  # _check_review_outcome refuses this first
        raise invalid(state, "no review is scheduled")
    effects = Effects()
    if review.scheduled_on is not None and cmd.held_on < review.scheduled_on:
        # Held before the day it was scheduled for: that meeting is still in everyone's calendar.
        effects.emails += cancel_meeting(state, review, ctx, _key(state, f"review-cancel:{review.id}"),
                                         invites.HELD_EARLIER)
    review.held_on, review.outcome, review.notes = cmd.held_on, cmd.outcome, cmd.notes
    if cmd.outcome is c.ReviewOutcome.CLOSE:
        if cmd.close_outcome is None:  # RecordReviewOutcome requires it for CLOSE
            raise invalid(state, "close_outcome is required to close at a review")
        effects.extend(close(state, cmd.close_outcome, cmd.held_on, "closed at TAS review", ctx))
    else:
        # Reviews recur from the day the meeting was held, however late its outcome is recorded.
        held = max(cmd.held_on, ctx.today) if ctx.legacy_rules else cmd.held_on
        next_due = ctx.after(held, ctx.clocks.review_interval_days)
        state.reviews.append(Review(id=f"review-{len(state.reviews) + 1}", due_on=next_due))
        if cmd.outcome is c.ReviewOutcome.START_REINTEGRATION:
            state.stage = Stage.REINTEGRATING
    return f"{review.id} held {cmd.held_on.isoformat()}: {cmd.outcome.value}", effects


# --- hospital --------------------------------------------------------------------------------------


def _check_admission(state: CaseState, cmd: c.RecordHospitalAdmission, ctx: CaseContext) -> None:
    if state.in_hospital:
        raise invalid(state, "the child is already recorded as in hospital")
    if cmd.admitted_on > ctx.today:
        raise invalid(state, "admitted_on is in the future")
    if cmd.expected_discharge is not None and cmd.expected_discharge <= cmd.admitted_on:
        raise invalid(state, "expected_discharge must be after admitted_on")


@rule(Action.RECORD_HOSPITAL_ADMISSION, _check_admission)
def _admission(state: CaseState, cmd: c.RecordHospitalAdmission, ctx: CaseContext) -> tuple[str, Effects]:
    state.hospital_stays.append(HospitalStay(hospital=cmd.hospital, admitted_on=cmd.admitted_on,
                                             expected_discharge=cmd.expected_discharge, recorded_on=ctx.today))
    summary = f"hospital admission {cmd.admitted_on.isoformat()}"
    if cmd.expected_discharge is not None:
        summary += f", expected discharge {cmd.expected_discharge.isoformat()}"
    return summary, Effects()


def _check_discharge(state: CaseState, cmd: c.RecordHospitalDischarge, ctx: CaseContext) -> None:
    if not state.in_hospital:
        raise invalid(state, "the child is not recorded as in hospital")
    stay = state.hospital_stays[-1]
    if cmd.discharged_on < stay.admitted_on:
        raise invalid(state, "discharged_on is before the admission")
    if cmd.discharged_on > ctx.today:
        raise invalid(state, "discharged_on is in the future")


@rule(Action.RECORD_HOSPITAL_DISCHARGE, _check_discharge)
def _discharge(state: CaseState, cmd: c.RecordHospitalDischarge, ctx: CaseContext) -> tuple[str, Effects]:
    stay = state.hospital_stays[-1]
    stay.discharged_on = cmd.discharged_on
    days = ctx.calendar.school_days_between(stay.admitted_on, cmd.discharged_on)
    return f"hospital discharge {cmd.discharged_on.isoformat()} after {days} school day(s)", Effects()


# --- reintegration ---------------------------------------------------------------------------------


def _check_plan(state: CaseState, cmd: c.AgreeReintegrationPlan, ctx: CaseContext) -> None:
    if cmd.end_date <= ctx.today:
        raise invalid(state, "the part-time timetable's end date must be in the future")


@rule(Action.AGREE_REINTEGRATION_PLAN, _check_plan)
def _agree_plan(state: CaseState, cmd: c.AgreeReintegrationPlan, ctx: CaseContext) -> tuple[str, Effects]:
    kept = state.reintegration if ctx.strict else None  # agreed again: its end and extensions stay on record
    state.reintegration = ReintegrationPlan(
        start_date=cmd.start_date, end_date=cmd.end_date, hours_per_week=cmd.hours_per_week,
        original_end_date=kept.original_end_date if kept else cmd.end_date, extensions=kept.extensions if kept else [])
    state.stage = Stage.REINTEGRATING
    effects = Effects(documents=[plan_document(state, state.reintegration)])
    if not ctx.letters:  # before: the ending email went out on agreement (now only near the end, by alarm)
        effects.emails.append(email(state, _key(state, "plan"), EmailTemplate.PART_TIME_ENDING,
                                    [parent(state), school(state)], on=cmd.end_date,
                                    detail=f"A part-time timetable runs from {cmd.start_date.isoformat()}."))
    return f"reintegration plan agreed to {cmd.end_date.isoformat()}", effects


def _check_extension(state: CaseState, cmd: c.ExtendReintegration, ctx: CaseContext) -> None:
    if state.reintegration is None:
        raise invalid(state, "there is no reintegration plan to extend")
    if cmd.new_end_date <= state.reintegration.end_date:
        raise invalid(state, "an extension must move the end date later")


@rule(Action.EXTEND_REINTEGRATION, _check_extension)
def _extend(state: CaseState, cmd: c.ExtendReintegration, ctx: CaseContext) -> tuple[str, Effects]:
    plan = state.reintegration
    if plan is None:  # _check_extension refuses this first
        raise invalid(state, "there is no part-time timetable to extend")
    plan.extensions.append(Extension(new_end_date=cmd.new_end_date, reason=cmd.reason, agreed_on=ctx.today))
    plan.end_date = cmd.new_end_date
    effects = Effects(documents=[plan_document(state, plan)] if ctx.letters else [])
    n = len(plan.extensions)
    if n > ctx.clocks.part_time_extensions_before_alert:
        detail = f"part-time timetable extended {n} times (now to {cmd.new_end_date.isoformat()})"
        effects.emails.append(raise_alert(state, "part_time_extended", detail, ctx, key=_key(state, "alert")))
    return f"part-time timetable extended to {cmd.new_end_date.isoformat()} (extension {n})", effects


# --- school change, notes --------------------------------------------------------------------------


def _check_school_change(state: CaseState, cmd: c.ChangeSchool, ctx: CaseContext) -> None:
    if cmd.new_school_urn == state.school_urn:
        raise invalid(state, "the child is already on this school's roll")
    if state.school_spells and cmd.effective_on <= state.school_spells[-1].from_date:
        raise invalid(state, "effective_on must be after the current school's spell began")


@rule(Action.CHANGE_SCHOOL, _check_school_change)
def _change_school(state: CaseState, cmd: c.ChangeSchool, ctx: CaseContext) -> tuple[str, Effects]:
    if state.school_spells:
        ending = state.school_spells[-1].model_copy(update={"to_date": cmd.effective_on - timedelta(days=1)})
        state.school_spells[-1] = ending
        state.school_spells.append(SchoolSpell(school_urn=cmd.new_school_urn, from_date=cmd.effective_on, to_date=None))
    old, invited = state.school_urn, school(state)
    state.school_urn = cmd.new_school_urn
    effects = Effects(emails=invites.replace_invitee(state, invited, ctx, _key(state, "review-reinvite"),
                                                     invites.SCHOOL_MOVED))
    return f"school changed from {old} to {cmd.new_school_urn} on {cmd.effective_on.isoformat()}", effects


@rule(Action.ADD_NOTE)
def _add_note(state: CaseState, cmd: c.AddNote, ctx: CaseContext) -> tuple[str, Effects]:
    state.notes.append(CaseNote(at=ctx.now, actor=cmd.actor, text=cmd.text))
    return "case note added", Effects()


require_every_action()
