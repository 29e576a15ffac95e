"""Stages and closures on their own, without Temporal: what the case offers is what it accepts, a
return is confirmed once it has happened, every closure is on the timeline, a supervisor may reopen a
case closed in error, and a late notification is late from the start."""

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain import case_commands as c
from domain import case_transitions as transitions
from domain.case_actions import open_actions
from domain.case_context import CaseContext
from domain.case_state import CaseState
from domain.command_rejection import CommandRejected
from domain.people import Actor, HealthProfessional, ProfessionalRole, Role
from domain.provision import Provision, ProvisionKind
from domain.recoupment import RecoupmentRates
from domain.school_calendar import SchoolCalendar, load_calendar_data
from domain.stages import Action, Stage
from domain.statutory_clocks import ClockSettings
from tests.case_harness import notification

TERMS = Path(__file__).parent / "data" / "test_terms.toml"
OFFICER = Actor(role=Role.CASEWORKER, name="officer-jb")
SUPERVISOR = Actor(role=Role.SUPERVISOR, name="supervisor-ab")
CALENDAR = SchoolCalendar(load_calendar_data(TERMS, 2028, 2031))
CONSULTANT = HealthProfessional(id="consultant-1", name="Dr A Consultant", role=ProfessionalRole.CONSULTANT)


def context(day: date, **clocks) -> CaseContext:
    return CaseContext(CALENDAR, ClockSettings(**clocks), RecoupmentRates(),
                       datetime.combine(day, datetime.min.time().replace(hour=9), UTC))


def new_case(day: date, **fields) -> CaseState:
    opened = notification(day, absence_days=[day])
    state = CaseState(case_ref=opened.case_ref, opened_at=datetime.combine(day, datetime.min.time(), UTC),
                      school_urn=opened.school_urn, child=opened.child, parent=opened.parent,
                      reason=opened.reason, first_day_of_absence=day, absence_days=[day], last_progress_on=day)
    return state.model_copy(update=fields)


def _tuition(start: date) -> list[Provision]:
    return [Provision(kind=ProvisionKind.HOME_TUITION, provider="County tuition", hours_per_week=Decimal(25),
                      start_date=start, weekly_cost=Decimal("500.00"))]


def samples(state: CaseState, action: Action, ctx: CaseContext) -> list[c.Command]:
    """Commands an officer could send for `action` now; the first is the plainest one."""
    today, a = ctx.today, OFFICER
    n = len(state.timeline)
    match action:
        case Action.RECORD_ABSENCE_DAYS:
            return [c.RecordAbsenceDays(actor=a, days=[today])]
        case Action.REQUEST_CONSENT:
            return [c.RequestConsent(actor=a)]
        case Action.RECORD_CONSENT:
            return [c.RecordConsent(actor=a, decision=c.ConsentDecision.GRANTED, professionals=[CONSULTANT]),
                    c.RecordConsent(actor=a, decision=c.ConsentDecision.REFUSED)]
        case Action.REQUEST_EVIDENCE:
            return [c.RequestEvidence(actor=a, professional_ids=[p.id for p in state.professionals] or ["x"])]
        case Action.RECORD_EVIDENCE:
            return [c.RecordEvidence(actor=a, document_ref="doc-" + f"{n:064x}", kind=c.EvidenceKind.GP_LETTER)]
        case Action.DECIDE:
            return [c.Decide(actor=a, outcome=o, reason="on the evidence held")
                    for o in (c.DecisionOutcome.LA_PROVISION, c.DecisionOutcome.MORE_EVIDENCE,
                              c.DecisionOutcome.SCHOOL_WORK, c.DecisionOutcome.NOT_ELIGIBLE)]
        case Action.COMMISSION_PROVISION:
            return [c.CommissionProvision(actor=a, officer="officer-jb", provisions=_tuition(ctx.after(today, 1)))]
        case Action.ASSIGN_OFFICER:
            return [c.AssignOfficer(actor=a, officer="officer-kt")]
        case Action.SCHEDULE_REVIEW:
            return [c.ScheduleReview(actor=a, on=ctx.after(today, 2))]
        case Action.RECORD_REVIEW_OUTCOME:
            return [c.RecordReviewOutcome(actor=a, outcome=c.ReviewOutcome.CONTINUE, held_on=today),
                    c.RecordReviewOutcome(actor=a, outcome=c.ReviewOutcome.START_REINTEGRATION, held_on=today),
                    c.RecordReviewOutcome(actor=a, outcome=c.ReviewOutcome.CLOSE, held_on=today,
                                          close_outcome=c.CloseOutcome.MOVED_SCHOOL)]
        case Action.RECORD_HOSPITAL_ADMISSION:
            return [c.RecordHospitalAdmission(actor=a, admitted_on=today, hospital="General")]
        case Action.RECORD_HOSPITAL_DISCHARGE:
            return [c.RecordHospitalDischarge(actor=a, discharged_on=today)]
        case Action.AGREE_REINTEGRATION_PLAN:
            plan = state.reintegration
            if plan is not None:  # agreed again: never ending later (that is an extension)
                end = plan.end_date if plan.end_date > today else ctx.after(today, 1)
                return [c.AgreeReintegrationPlan(actor=a, start_date=today, end_date=end, hours_per_week=12)]
            return [c.AgreeReintegrationPlan(actor=a, start_date=ctx.after(today, 1), end_date=ctx.after(today, 10),
                                             hours_per_week=12)]
        case Action.EXTEND_REINTEGRATION:
            end = max(state.reintegration.end_date, today) if state.reintegration else today
            return [c.ExtendReintegration(actor=a, new_end_date=ctx.after(end, 5), reason="still tiring")]
        case Action.CONFIRM_FULL_TIME_RETURN:
            return [c.ConfirmFullTimeReturn(actor=a, returned_on=today)]
        case Action.CHANGE_SCHOOL:
            since = state.school_spells[-1].from_date if state.school_spells else None
            on = today if since is None or since < today else ctx.after(since, 1)
            return [c.ChangeSchool(actor=a, new_school_urn="120002" if state.school_urn != "120002" else "120003",
                                   effective_on=on)]
        case Action.ADD_NOTE:
            return [c.AddNote(actor=a, text="spoke to the family")]
        case Action.CLOSE:
            return [c.CloseCase(actor=a, outcome=c.CloseOutcome.WITHDRAWN)]
    return [_extra_sample(state, action, ctx)]


def _extra_sample(state: CaseState, action: Action, ctx: CaseContext) -> c.Command:
    if action is Action.REOPEN:
        return c.ReopenCase(actor=SUPERVISOR, reason="closed in error")
    raise AssertionError(f"no sample for {action}")


def _refused(state: CaseState, action: Action, cmd: c.Command, ctx: CaseContext) -> str | None:
    try:
        transitions.check(state, action, cmd, ctx)
    except CommandRejected as rejected:
        return str(rejected)
    return None


def _assert_listed_is_true(state: CaseState, ctx: CaseContext) -> list[Action]:
    listed = [Action(a) for a in open_actions(state, ctx)]
    for action in Action:
        if action in listed:
            reason = _refused(state, action, samples(state, action, ctx)[0], ctx)
            assert reason is None, f"{action.value} is listed in {state.stage.value} but refused: {reason}"
        else:
            for cmd in samples(state, action, ctx):
                assert _refused(state, action, cmd, ctx) is not None, (
                    f"{action.value} is not listed in {state.stage.value} yet accepted")
    return listed


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 3), st.integers(0, 2)), max_size=30))
def test_every_action_listed_can_succeed_and_no_other_can(walk):
    """A random walk over the actions a case lists: in every state it reaches, each listed action
    succeeds with a plain command, and every action not listed is refused."""
    day = date(2030, 1, 7)
    state = new_case(day)
    for pick, sample, days_later in walk:
        ctx = context(day)
        listed = _assert_listed_is_true(state, ctx)
        if not listed:
            break
        action = listed[pick % len(listed)]
        options = [cmd for cmd in samples(state, action, ctx) if _refused(state, action, cmd, ctx) is None]
        transitions.apply(state, action, options[sample % len(options)], ctx)
        day = CALENDAR.add_school_days(day, days_later) if days_later else day
    _assert_listed_is_true(state, context(day))


def test_refused_consent_no_longer_offers_an_evidence_request():
    state = new_case(date(2030, 1, 7))
    ctx = context(date(2030, 1, 8))
    transitions.apply(state, Action.REQUEST_CONSENT, c.RequestConsent(actor=OFFICER), ctx)
    transitions.apply(state, Action.RECORD_CONSENT,
                      c.RecordConsent(actor=OFFICER, decision=c.ConsentDecision.REFUSED), ctx)
    assert state.stage is Stage.DECIDING
    assert "request_evidence" not in open_actions(state)
    assert "decide" in open_actions(state)


def test_reintegrating_without_a_plan_asks_for_one():
    from domain.pending_tasks import pending_tasks

    state = new_case(date(2030, 1, 7), stage=Stage.REINTEGRATING)
    ctx = context(date(2030, 3, 11))
    listed = open_actions(state)
    assert "agree_reintegration_plan" in listed
    assert "extend_reintegration" not in listed and "confirm_full_time_return" not in listed
    assert "agree-plan" in [t.id for t in pending_tasks(state, ctx)]


def _reintegrating(day: date) -> CaseState:
    from domain.case_state import ReintegrationPlan

    return new_case(date(2030, 1, 7), stage=Stage.REINTEGRATING, reintegration=ReintegrationPlan(
        start_date=date(2030, 3, 4), end_date=date(2030, 3, 15), original_end_date=date(2030, 3, 15),
        hours_per_week=12))


def test_a_future_full_time_return_is_refused_and_the_case_stays_open():
    state = _reintegrating(date(2030, 3, 11))
    ctx = context(date(2030, 3, 11))
    try:
        transitions.apply(state, Action.CONFIRM_FULL_TIME_RETURN,
                          c.ConfirmFullTimeReturn(actor=OFFICER, returned_on=date(2030, 3, 18)), ctx)
    except CommandRejected as rejected:
        assert "in the future" in str(rejected)
    else:
        raise AssertionError("a future return closed the case")
    assert state.stage is Stage.REINTEGRATING and state.closed_on is None and state.recoupment_lines == []

    # On the day (or after), it closes the case as of the return.
    on_the_day = context(date(2030, 3, 18))
    transitions.apply(state, Action.CONFIRM_FULL_TIME_RETURN,
                      c.ConfirmFullTimeReturn(actor=OFFICER, returned_on=date(2030, 3, 18)), on_the_day)
    assert state.stage is Stage.CLOSED and state.closed_on == date(2030, 3, 18)


def test_a_late_notification_is_overdue_from_the_start():
    from domain.absence_threshold import refresh_threshold
    from domain.pending_tasks import pending_tasks

    missed = CALENDAR.school_days_in(date(2030, 1, 7), date(2030, 3, 1))[:30]
    state = new_case(date(2030, 1, 7), absence_days=missed, opened_at=datetime(2030, 3, 4, 9, tzinfo=UTC))
    ctx = context(date(2030, 3, 4))
    refresh_threshold(state, ctx)
    assert state.threshold_date == date(2030, 1, 25)  # the 15th school day missed, long past
    tasks = {t.id: t for t in pending_tasks(state, ctx)}
    assert tasks["provision-due"].due_on == date(2030, 1, 25) and tasks["provision-due"].overdue
    assert any(t.overdue for t in tasks.values())  # the case view's `overdue`


def test_a_notification_in_good_time_shows_the_provision_deadline_not_overdue():
    from domain.absence_threshold import refresh_threshold
    from domain.pending_tasks import pending_tasks

    state = new_case(date(2030, 1, 7))
    ctx = context(date(2030, 1, 7))
    refresh_threshold(state, ctx)
    tasks = {t.id: t for t in pending_tasks(state, ctx)}
    assert tasks["provision-due"].due_on == date(2030, 1, 25) and not tasks["provision-due"].overdue


def _decide_not_eligible(day: date) -> tuple[CaseState, CaseContext]:
    state = new_case(date(2030, 1, 7))
    ctx = context(day)
    transitions.apply(state, Action.DECIDE, c.Decide(actor=OFFICER, outcome=c.DecisionOutcome.NOT_ELIGIBLE,
                                                     reason="back next week"), ctx)
    return state, ctx


def test_every_closure_is_on_the_timeline():
    state, _ = _decide_not_eligible(date(2030, 1, 9))
    assert state.stage is Stage.CLOSED
    assert [(e.action, e.summary) for e in state.timeline][-2:] == [
        ("decide", "decision: not_eligible"), ("closed", "case closed: not_eligible on 2030-01-09")]

    returned = _reintegrating(date(2030, 3, 18))
    transitions.apply(returned, Action.CONFIRM_FULL_TIME_RETURN,
                      c.ConfirmFullTimeReturn(actor=OFFICER, returned_on=date(2030, 3, 18)), context(date(2030, 3, 18)))
    assert returned.timeline[-1].action == "closed"
    assert returned.timeline[-1].summary == "case closed: returned_full_time on 2030-03-18"

    closed = new_case(date(2030, 1, 7))
    transitions.apply(closed, Action.CLOSE, c.CloseCase(actor=OFFICER, outcome=c.CloseOutcome.LEFT_AREA),
                      context(date(2030, 1, 9)))
    assert [e.action for e in closed.timeline] == ["close"]  # the closure itself: one entry
    assert closed.timeline[-1].summary == "case closed: left_area"


def test_a_supervisor_reopens_a_case_closed_in_error_with_a_reason():
    state, _ = _decide_not_eligible(date(2030, 1, 9))
    later = context(date(2030, 1, 16))
    assert open_actions(state, later) == ["reopen"]
    effects = transitions.apply(state, Action.REOPEN, c.ReopenCase(actor=SUPERVISOR, reason="wrong child"), later)
    # Back to the stage it was closed from (here: decided straight after notification).
    assert state.stage is Stage.NOTIFIED and state.closed_on is None and state.close_outcome is None
    assert [(r.reason, r.closed_on, r.close_outcome) for r in state.reopenings] == [
        ("wrong child", date(2030, 1, 9), c.CloseOutcome.NOT_ELIGIBLE)]
    assert state.timeline[-1].action == "reopen" and "wrong child" not in state.timeline[-1].summary
    assert [m.template.value for m in effects.emails] == ["case_reopened"]
    assert "decide" in open_actions(state, later)


def test_reopening_needs_a_supervisor_a_reason_and_the_window():
    import pytest
    from pydantic import ValidationError

    state, _ = _decide_not_eligible(date(2030, 1, 9))
    with pytest.raises(CommandRejected, match="only a supervisor"):
        transitions.apply(state, Action.REOPEN, c.ReopenCase(actor=OFFICER, reason="oops"), context(date(2030, 1, 10)))
    with pytest.raises(ValidationError):
        c.ReopenCase(actor=SUPERVISOR, reason="   ")
    # Ten school days after Wednesday 9 January is Wednesday 23 January: the last day to reopen.
    assert open_actions(state, context(date(2030, 1, 23))) == ["reopen"]
    too_late = context(date(2030, 1, 24))
    assert open_actions(state, too_late) == []
    with pytest.raises(CommandRejected, match="within 10 school days"):
        transitions.apply(state, Action.REOPEN, c.ReopenCase(actor=SUPERVISOR, reason="oops"), too_late)
    # A council may make closures final.
    assert open_actions(state, context(date(2030, 1, 10), reopen_within=0)) == []
