"""Builders for the pure rule tests (tests/test_rules_*.py): a fixed school calendar, a context on a
given day, a case in a given stage, and readable views of the effects a rule returns.

Nothing here touches Temporal, a database or the clock: every date is a fixed day in the 2029-30
school year below, so that every expected date in a test is a concrete, checkable day.

The calendar (built in code, not loaded, so no bank-holiday library decides a test):
- 2029-30 autumn: Tue 4 Sep - Thu 20 Dec 2029, half-term 29 Oct - 2 Nov;
- 2029-30 spring: Mon 7 Jan - Fri 29 Mar 2030, half-term 18-22 Feb (55 school days);
- 2029-30 summer: Tue 23 Apr - Tue 23 Jul 2030, half-term 27-31 May, bank holiday Mon 6 May;
- 2030-31 autumn: Tue 3 Sep - Thu 19 Dec 2030 (so a case can cross the academic year).
The calendar and the rates are built afresh for each context (see `calendar_data`).
The calendar covers 1 Sep 2029 to 31 Aug 2031.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest

from domain.case_alarms import Alarm, unfired_alarms
from domain.case_commands import AbsenceReason, CloseOutcome, Command, CommissionProvision, DecisionOutcome
from domain.case_context import CaseContext
from domain.case_effects import Effects
from domain.case_state import (
    CaseState,
    ConsentStatus,
    EvidenceRequest,
    ReintegrationPlan,
    Review,
    TimelineEvent,
)
from domain.case_transitions import CommandRejected, apply
from domain.email_models import EmailRequest
from domain.people import Actor, Child, HealthProfessional, Parent, ProfessionalRole, Role
from domain.provision import Provision, ProvisionKind
from domain.recoupment import KeyStage, RecoupmentRates, SchoolSpell
from domain.school_calendar import CalendarData, SchoolCalendar, Term
from domain.stages import Action, Stage
from domain.statutory_clocks import ClockSettings


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def calendar_data() -> CalendarData:
    """Built afresh for each context, inside the test (not at import), so that the calendar's own code
    runs under each test: mutation testing switches mutants on only after import."""
    return CalendarData(
        terms=[
            Term(name="2029-30 autumn", start=date(2029, 9, 4), end=date(2029, 12, 20)),
            Term(name="2029-30 spring", start=date(2030, 1, 7), end=date(2030, 3, 29)),
            Term(name="2029-30 summer", start=date(2030, 4, 23), end=date(2030, 7, 23)),
            Term(name="2030-31 autumn", start=date(2030, 9, 3), end=date(2030, 12, 19)),
        ],
        closures=_days(date(2029, 10, 29), date(2029, 11, 2))
        + _days(date(2030, 2, 18), date(2030, 2, 22))
        + _days(date(2030, 5, 27), date(2030, 5, 31)),
        bank_holidays=[date(2029, 12, 25), date(2030, 4, 19), date(2030, 4, 22), date(2030, 5, 6),
                       date(2030, 8, 26)],
    )


def calendar() -> SchoolCalendar:
    return SchoolCalendar(calendar_data())


def rates() -> RecoupmentRates:
    """Every key stage at £1,900 a year over 190 school days: £10.00 a school day, easy to check."""
    return RecoupmentRates(annual_per_pupil={ks: Decimal("1900.00") for ks in KeyStage}, divisor="fixed",
                           school_days_per_year=190)


DAILY = Decimal("10.00")

CASE_REF = "MN-30-7K3Q9P"
SCHOOL_URN = "120001"
OTHER_SCHOOL_URN = "120002"
PARENT_EMAIL = "jordan.testcase@example.org"
CONSULTANT_EMAIL = "consultant@example.org"
GP_EMAIL = "gp@example.org"
OFFICER_NAME = "officer-jb"

CASEWORKER = Actor(role=Role.CASEWORKER, name=OFFICER_NAME)
SUPERVISOR = Actor(role=Role.SUPERVISOR, name="supervisor-kt")
SCHOOL_ACTOR = Actor(role=Role.SCHOOL, name="school-120001")

CONSULTANT = HealthProfessional(id="consultant-1", name="Dr A Consultant", role=ProfessionalRole.CONSULTANT,
                                email=CONSULTANT_EMAIL)
GP = HealthProfessional(id="gp-1", name="Dr B General", role=ProfessionalRole.GP, email=GP_EMAIL)

#: A first day of absence: Monday 7 January 2030, the first day of the spring term.
FIRST_DAY = date(2030, 1, 7)


def at(day: date, hour: int = 9, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


def ctx(day: date, *, hour: int = 9, minute: int = 0, **clocks: Any) -> CaseContext:
    """The context on `day` (09:00 UTC unless told), with the default clocks but for `clocks`."""
    return CaseContext(calendar(), ClockSettings(**clocks), rates(), at(day, hour, minute))


def case(stage: Stage = Stage.NOTIFIED, *, opened: date = FIRST_DAY, **fields: Any) -> CaseState:
    """A case in `stage`, opened on `opened`, with nothing else recorded unless given in `fields`."""
    values: dict[str, Any] = {
        "case_ref": CASE_REF,
        "stage": stage,
        "opened_at": at(opened),
        "school_urn": SCHOOL_URN,
        "child": Child(given_name="Amelia", family_name="Testcase", date_of_birth=date(2018, 5, 14)),
        "parent": Parent(name="Jordan Testcase", email=PARENT_EMAIL),
        "reason": AbsenceReason.PHYSICAL_ILLNESS,
        "first_day_of_absence": FIRST_DAY,
        "absence_days": [FIRST_DAY],
        "last_progress_on": opened,
    }
    values.update(fields)
    return CaseState(**values)


def awaiting_consent(asked: date = FIRST_DAY, **fields: Any) -> CaseState:
    values: dict[str, Any] = {"consent": ConsentStatus.REQUESTED, "consent_requested_on": asked}
    values.update(fields)
    return case(Stage.AWAITING_CONSENT, **values)


def gathering(opened: date = date(2030, 1, 8), *, requests: tuple[str, ...] = (), **fields: Any) -> CaseState:
    """Consent granted for the consultant and the GP; evidence opened on `opened`; requests to the ids given."""
    values: dict[str, Any] = {
        "consent": ConsentStatus.GRANTED,
        "consent_requested_on": FIRST_DAY,
        "consent_decided_on": opened,
        "professionals": [CONSULTANT, GP],
        "evidence_opened_on": opened,
        "evidence_requests": [EvidenceRequest(professional_id=pid, requested_on=opened) for pid in requests],
    }
    values.update(fields)
    return case(Stage.GATHERING_EVIDENCE, **values)


def deciding(closed: date = date(2030, 1, 15), **fields: Any) -> CaseState:
    values: dict[str, Any] = {"evidence_closed_on": closed}
    values.update(fields)
    state = gathering(**values)
    state.stage = Stage.DECIDING
    return state


def commissioning(decided: date = date(2030, 1, 16), outcome: DecisionOutcome = DecisionOutcome.LA_PROVISION,
                  **fields: Any) -> CaseState:
    values: dict[str, Any] = {"decision": outcome, "decision_reason": "consultant letter", "decided_on": decided}
    values.update(fields)
    state = deciding(**values)
    state.stage = Stage.COMMISSIONING
    return state


def provision(start: date = date(2030, 1, 21), hours: str = "25", *, kind: ProvisionKind = ProvisionKind.HOME_TUITION,
              end: date | None = None, cost: str = "500.00", provider: str = "Tuition Ltd") -> Provision:
    return Provision(kind=kind, provider=provider, hours_per_week=Decimal(hours), start_date=start,
                     weekly_cost=Decimal(cost), end_date=end)


def in_provision(start: date = date(2030, 1, 21), *, review_due: date = date(2030, 3, 11),
                 officer: str | None = OFFICER_NAME, **fields: Any) -> CaseState:
    """LA provision (25 hours of home tuition) running from `start`, first review due `review_due`."""
    values: dict[str, Any] = {
        "provisions": [provision(start)],
        "provision_started_on": start,
        "officer": officer,
        "school_spells": [SchoolSpell(school_urn=SCHOOL_URN, from_date=start, to_date=None)],
        "reviews": [Review(id="review-1", due_on=review_due)],
    }
    values.update(fields)
    state = commissioning(**values)
    state.stage = Stage.IN_PROVISION
    return state


def reintegrating(start: date = date(2030, 3, 11), end: date = date(2030, 3, 29), **fields: Any) -> CaseState:
    state = in_provision(**fields)
    state.stage = Stage.REINTEGRATING
    state.reintegration = ReintegrationPlan(start_date=start, end_date=end, original_end_date=end, hours_per_week=12.5)
    return state


def closed(**fields: Any) -> CaseState:
    values: dict[str, Any] = {"close_outcome": CloseOutcome.WITHDRAWN, "closed_on": date(2030, 1, 10)}
    values.update(fields)
    return case(Stage.CLOSED, **values)


#: One case per stage, for the stage x action table.
def case_in(stage: Stage) -> CaseState:
    return {
        Stage.NOTIFIED: case,
        Stage.AWAITING_CONSENT: awaiting_consent,
        Stage.GATHERING_EVIDENCE: gathering,
        Stage.DECIDING: deciding,
        Stage.COMMISSIONING: commissioning,
        Stage.IN_PROVISION: in_provision,
        Stage.REINTEGRATING: reintegrating,
        Stage.CLOSED: closed,
    }[stage]()


# --- reading effects -------------------------------------------------------------------------------


def recipients(mail: EmailRequest) -> list[tuple[str, str | None]]:
    """Who an email goes to, as (role, address or ref)."""
    return [(r.role.value, r.address or r.ref) for r in mail.recipients]


def mails(effects: Effects) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """The emails an effect asks for, as (template, recipients)."""
    return [(m.template.value, recipients(m)) for m in effects.emails]


def only_mail(effects: Effects) -> EmailRequest:
    assert len(effects.emails) == 1, mails(effects)
    return effects.emails[0]


PARENT_TO = ("parent", PARENT_EMAIL)
SCHOOL_TO = ("school", SCHOOL_URN)
OFFICER_TO = ("officer", OFFICER_NAME)
SUPERVISORS_TO = ("supervisors", None)


def due_alarms(state: CaseState, context: CaseContext) -> list[Alarm]:
    """The alarms the workflow would fire now: unfired, and their firing time reached."""
    return [a for a in unfired_alarms(state, context) if a.fires_at(context) <= context.now]


def alarm_named(state: CaseState, context: CaseContext, kind: str) -> Alarm:
    found = [a for a in unfired_alarms(state, context) if a.kind == kind]
    assert len(found) == 1, [a.id for a in unfired_alarms(state, context)]
    return found[0]


def kinds(alarms: list[Alarm]) -> list[str]:
    return [a.kind for a in alarms]


def sample_command(action: Action) -> Command:
    """A well-formed command for each action (its dates inside the calendar), for stage checks."""
    from domain import case_commands as c

    d = date(2030, 1, 14)
    return {
        Action.RECORD_ABSENCE_DAYS: c.RecordAbsenceDays(actor=SCHOOL_ACTOR, days=[d]),
        Action.REQUEST_CONSENT: c.RequestConsent(actor=CASEWORKER),
        Action.RECORD_CONSENT: c.RecordConsent(actor=CASEWORKER, decision=c.ConsentDecision.GRANTED,
                                               professionals=[CONSULTANT]),
        Action.REQUEST_EVIDENCE: c.RequestEvidence(actor=CASEWORKER, professional_ids=[CONSULTANT.id]),
        Action.RECORD_EVIDENCE: c.RecordEvidence(actor=CASEWORKER, document_ref="doc-" + "a" * 64,
                                                 kind=c.EvidenceKind.GP_LETTER),
        Action.DECIDE: c.Decide(actor=CASEWORKER, outcome=DecisionOutcome.LA_PROVISION, reason="letter"),
        Action.COMMISSION_PROVISION: c.CommissionProvision(actor=CASEWORKER, provisions=[provision()]),
        Action.ASSIGN_OFFICER: c.AssignOfficer(actor=SUPERVISOR, officer=OFFICER_NAME),
        Action.SCHEDULE_REVIEW: c.ScheduleReview(actor=CASEWORKER, on=d),
        Action.RECORD_REVIEW_OUTCOME: c.RecordReviewOutcome(actor=CASEWORKER, outcome=c.ReviewOutcome.CONTINUE,
                                                            held_on=d),
        Action.RECORD_HOSPITAL_ADMISSION: c.RecordHospitalAdmission(actor=CASEWORKER, admitted_on=d,
                                                                    hospital="Royal Infirmary"),
        Action.RECORD_HOSPITAL_DISCHARGE: c.RecordHospitalDischarge(actor=CASEWORKER, discharged_on=d),
        Action.AGREE_REINTEGRATION_PLAN: c.AgreeReintegrationPlan(actor=CASEWORKER, start_date=d,
                                                                  end_date=date(2030, 2, 1), hours_per_week=10),
        Action.EXTEND_REINTEGRATION: c.ExtendReintegration(actor=CASEWORKER, new_end_date=date(2030, 3, 1),
                                                           reason="anxiety"),
        Action.CONFIRM_FULL_TIME_RETURN: c.ConfirmFullTimeReturn(actor=CASEWORKER, returned_on=d),
        Action.CHANGE_SCHOOL: c.ChangeSchool(actor=CASEWORKER, new_school_urn=OTHER_SCHOOL_URN, effective_on=d),
        Action.ADD_NOTE: c.AddNote(actor=CASEWORKER, text="spoke to the parent"),
        Action.CLOSE: c.CloseCase(actor=CASEWORKER, outcome=CloseOutcome.LEFT_AREA),
        Action.REOPEN: c.ReopenCase(actor=SUPERVISOR, reason="closed under the wrong reference"),
    }[action]


# --- what a rule answers -----------------------------------------------------------------------------


def refusal(state: CaseState, action: Action, cmd: Command, context: CaseContext) -> CommandRejected:
    """The refusal `apply` gives; the state must be left exactly as it was."""
    before = state.model_copy(deep=True)
    with pytest.raises(CommandRejected) as caught:
        apply(state, action, cmd, context)
    assert caught.value.kind == "InvalidCommand"
    assert caught.value.stage is state.stage
    assert state == before
    return caught.value


def rejected(state: CaseState, action: Action, cmd: Command, context: CaseContext) -> str:
    """The message of that refusal."""
    return str(refusal(state, action, cmd, context))


def last_event(state: CaseState) -> TimelineEvent:
    return state.timeline[-1]


def summary(state: CaseState) -> str:
    return last_event(state).summary


def commission(*provisions: Provision, officer: str | None = None, reason: str | None = None) -> CommissionProvision:
    return CommissionProvision(actor=CASEWORKER, provisions=list(provisions), officer=officer,
                               part_time_health_reason=reason)
