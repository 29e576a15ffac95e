"""The case's timers, kind by kind: when each alarm is due (not the day before, on the day from the alarm
hour), and what firing it does (template, recipients, dates, alerts, stage, recoupment, timeline).

"Due" is what the workflow fires: an alarm from `unfired_alarms` whose `fires_at` has come
(`rule_fixtures.due_alarms`). Pure, fixed dates (spring 2030: 7 January - 29 March, half-term 18-22 February).
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest

from domain.case_alarms import Alarm, fire, unfired_alarms
from domain.case_commands import DecisionOutcome
from domain.case_state import HospitalStay, Review
from domain.people import SYSTEM_ACTOR
from domain.recoupment import KeyStage, RecoupmentLine
from domain.stages import Stage
from tests.rule_fixtures import (
    CASE_REF,
    CONSULTANT_EMAIL,
    DAILY,
    OFFICER_TO,
    PARENT_TO,
    SCHOOL_TO,
    SCHOOL_URN,
    SUPERVISORS_TO,
    alarm_named,
    awaiting_consent,
    case,
    ctx,
    due_alarms,
    gathering,
    in_provision,
    kinds,
    mails,
    only_mail,
    reintegrating,
)

PART_TIME_DETAIL = "Please confirm the full-time return, or agree an extension."


@dataclass
class Kind:
    """One alarm kind: the case it fires for, when, and the email it sends (if any)."""

    kind: str
    make: Any
    fires_on: date
    alarm_id: str
    mail: tuple[str, list] | None
    summary: str
    mail_date: date | None = None  # the date the email names, when not the firing day
    detail: str = ""
    subject: str = ""

    def __str__(self) -> str:
        return self.kind


def _hospital_case():
    return gathering(hospital_stays=[HospitalStay(hospital="LRI", admitted_on=date(2030, 1, 14))])


KINDS = [
    Kind("consent-reminder", lambda: awaiting_consent(date(2030, 1, 7)), date(2030, 1, 10),
         "consent-reminder:2030-01-07", ("consent_reminder", [PARENT_TO]), "consent reminder"),
    Kind("consent-follow-up", lambda: awaiting_consent(date(2030, 1, 7)), date(2030, 1, 14),
         "consent-follow-up:2030-01-07", ("consent_follow_up", [SUPERVISORS_TO]), "consent follow up"),
    Kind("evidence-chase", lambda: gathering(date(2030, 1, 8), requests=("consultant-1",)), date(2030, 1, 15),
         "evidence-chase:consultant-1:2030-01-08", ("evidence_chaser", [("professional", CONSULTANT_EMAIL)]),
         "evidence chased from consultant-1", subject="consultant-1"),
    Kind("evidence-deadline", lambda: gathering(date(2030, 1, 8)), date(2030, 1, 22), "evidence-deadline:2030-01-08",
         ("decide_on_evidence_held", [SUPERVISORS_TO]), "evidence deadline passed: decide on the evidence held"),
    Kind("review-reminder", in_provision, date(2030, 3, 4), "review-reminder:review-1:2030-03-11",
         ("review_reminder", [PARENT_TO, SCHOOL_TO, OFFICER_TO]), "review reminder", mail_date=date(2030, 3, 11),
         subject="review-1"),
    Kind("review-escalation", in_provision, date(2030, 3, 18), "review-escalation:review-1:2030-03-11",
         ("review_escalation", [SUPERVISORS_TO]), "overdue review-1 escalated to supervisors",
         detail="review-1 is 5 school days overdue", subject="review-1"),
    Kind("part-time-reminder", reintegrating, date(2030, 3, 26), "part-time-reminder:2030-03-29",
         ("part_time_ending", [PARENT_TO, SCHOOL_TO, OFFICER_TO]), "part time reminder", mail_date=date(2030, 3, 29),
         detail=PART_TIME_DETAIL),
    Kind("part-time-end", reintegrating, date(2030, 3, 29), "part-time-end:2030-03-29",
         ("part_time_ending", [OFFICER_TO]), "part time end", detail=PART_TIME_DETAIL),
    Kind("hospital-referral", _hospital_case, date(2030, 2, 4), "hospital-referral:2030-01-14",
         ("supervisor_alert", [SUPERVISORS_TO]), "hospital referral",
         detail="in hospital for 15 school days: refer for hospital education"),
    Kind("stalled", case, date(2030, 1, 21), "stalled:2030-01-07", ("supervisor_alert", [SUPERVISORS_TO]),
         "case stalled: raised to supervisors", detail="no recorded progress for 10 school days"),
    # The spring term ends Friday 29 March: it is charged the day after, a Saturday.
    Kind("term-charge", in_provision, date(2030, 3, 30), "term-charge:2029-30 spring", None,
         "recoupment charged for 2029-30 spring: 1 line(s)", subject="2029-30 spring"),
    # A notified case's first task (ask for consent) is due the next school day, Tuesday 8 January.
    Kind("overdue", case, date(2030, 1, 9), "overdue:request-consent:2030-01-08", None, "task overdue: request-consent",
         subject="request-consent"),
]


def _alarm(k: Kind, state) -> Alarm:
    found = [a for a in unfired_alarms(state, ctx(k.fires_on)) if a.id == k.alarm_id]
    assert len(found) == 1, [a.id for a in unfired_alarms(state, ctx(k.fires_on))]
    return found[0]


def test_every_kind_fire_knows_is_covered_here():
    import inspect

    from domain import case_alarms

    source = inspect.getsource(case_alarms.fire)
    named = {part.split('"')[1] for part in source.split("case ")[1:] if part.startswith('"')}
    named |= {"part-time-end"}  # matched together with part-time-reminder
    assert {k.kind for k in KINDS} == named


@pytest.mark.parametrize("k", KINDS, ids=str)
def test_each_alarm_is_set_for_its_day(k):
    alarm = _alarm(k, k.make())
    assert (alarm.kind, alarm.fires_on, alarm.subject) == (k.kind, k.fires_on, k.subject)


@pytest.mark.parametrize("k", KINDS, ids=str)
def test_each_alarm_is_not_due_the_day_before(k):
    state = k.make()
    assert k.alarm_id not in [a.id for a in due_alarms(state, ctx(k.fires_on - timedelta(days=1), hour=23, minute=59))]


@pytest.mark.parametrize("k", KINDS, ids=str)
def test_each_alarm_is_due_on_its_day_from_the_alarm_hour(k):
    state = k.make()
    assert k.alarm_id not in [a.id for a in due_alarms(state, ctx(k.fires_on, hour=6, minute=59))]
    assert k.alarm_id in [a.id for a in due_alarms(state, ctx(k.fires_on, hour=7))]


def test_the_alarm_hour_is_a_setting():
    state = case()
    alarm = alarm_named(state, ctx(date(2030, 1, 21)), "stalled")
    assert alarm.fires_at(ctx(date(2030, 1, 21), alarm_hour_utc=12)) == datetime.combine(
        date(2030, 1, 21), time(12), tzinfo=ctx(date(2030, 1, 21)).now.tzinfo)
    assert "stalled" not in kinds(due_alarms(state, ctx(date(2030, 1, 21), hour=11, minute=59, alarm_hour_utc=12)))
    assert "stalled" in kinds(due_alarms(state, ctx(date(2030, 1, 21), hour=12, alarm_hour_utc=12)))


@pytest.mark.parametrize("k", KINDS, ids=str)
def test_firing_each_alarm(k):
    state = k.make()
    alarm = _alarm(k, state)
    context = ctx(k.fires_on, hour=7, minute=5)
    effects = fire(state, alarm, context)
    if k.mail is None:
        assert mails(effects) == []
    else:
        mail = only_mail(effects)
        assert mails(effects) == [k.mail]
        assert mail.idempotency_key == f"{CASE_REF}:alarm:{k.alarm_id}"
        assert mail.context["date"] == (k.mail_date or k.fires_on).strftime("%A %-d %B %Y")
        assert mail.context["detail"] == k.detail
    assert state.fired_alarms == [k.alarm_id]
    event = state.timeline[-1]
    assert (event.actor, event.action, event.summary, event.at) == (SYSTEM_ACTOR, f"timer:{k.kind}", k.summary,
                                                                   context.now)
    # Once fired, never again.
    assert k.alarm_id not in [a.id for a in unfired_alarms(state, context)]


def test_a_fired_alarm_does_not_count_as_progress():
    state = case()
    fire(state, alarm_named(state, ctx(date(2030, 1, 9)), "overdue"), ctx(date(2030, 1, 9)))
    assert state.last_progress_on == date(2030, 1, 7)


# --- what some alarms change ------------------------------------------------------------------------


def test_the_evidence_deadline_moves_the_case_to_deciding_on_the_evidence_held():
    state = gathering(date(2030, 1, 8), requests=("consultant-1",))
    alarm = alarm_named(state, ctx(date(2030, 1, 22)), "evidence-deadline")
    fire(state, alarm, ctx(date(2030, 1, 22)))
    assert state.stage is Stage.DECIDING
    assert state.evidence_closed_on == date(2030, 1, 22)
    # No more chasing once the officer is to decide; the decision is due 5 school days on.
    assert "evidence-chase" not in kinds(unfired_alarms(state, ctx(date(2030, 1, 22))))
    assert [a.id for a in unfired_alarms(state, ctx(date(2030, 1, 22))) if a.kind == "overdue"] == [
        "overdue:decide:2030-01-29"]


def test_the_evidence_deadline_goes_to_the_officer_when_there_is_one():
    state = gathering(date(2030, 1, 8), officer="officer-jb")
    effects = fire(state, alarm_named(state, ctx(date(2030, 1, 22)), "evidence-deadline"), ctx(date(2030, 1, 22)))
    assert mails(effects) == [("decide_on_evidence_held", [OFFICER_TO])]


def test_the_consent_follow_up_goes_to_the_officer_when_there_is_one():
    state = awaiting_consent(officer="officer-jb")
    effects = fire(state, alarm_named(state, ctx(date(2030, 1, 14)), "consent-follow-up"), ctx(date(2030, 1, 14)))
    assert mails(effects) == [("consent_follow_up", [OFFICER_TO])]


def test_a_chase_for_a_professional_no_longer_known_sends_nothing_but_is_recorded():
    state = gathering(date(2030, 1, 8), requests=("consultant-1",))
    alarm = alarm_named(state, ctx(date(2030, 1, 15)), "evidence-chase")
    state.professionals = []
    effects = fire(state, alarm, ctx(date(2030, 1, 15)))
    assert mails(effects) == []
    assert state.timeline[-1].summary == "evidence chased from consultant-1"


def test_each_open_evidence_request_is_chased_from_its_own_day():
    state = gathering(date(2030, 1, 8), requests=("consultant-1",))
    state.evidence_requests.append(state.evidence_requests[0].model_copy(
        update={"professional_id": "gp-1", "requested_on": date(2030, 1, 10)}))
    state.evidence_requests[0].received_on = date(2030, 1, 9)
    chases = [(a.subject, a.fires_on) for a in unfired_alarms(state, ctx(date(2030, 1, 10))) if a.kind == "evidence-chase"]
    assert chases == [("gp-1", date(2030, 1, 17))]


def test_the_review_reminder_carries_the_meeting_invite_and_follows_a_rescheduled_meeting():
    state = in_provision(reviews=[Review(id="review-1", due_on=date(2030, 3, 11), scheduled_on=date(2030, 3, 13))])
    alarm = alarm_named(state, ctx(date(2030, 3, 6)), "review-reminder")
    assert (alarm.id, alarm.fires_on, alarm.subject) == ("review-reminder:review-1:2030-03-13", date(2030, 3, 6), "review-1")
    mail = only_mail(fire(state, alarm, ctx(date(2030, 3, 6))))
    assert mail.invite is not None
    assert (mail.invite.uid, mail.invite.starts_at) == (f"{CASE_REF}-review-1@casework", datetime(2030, 3, 13, 10, 0))
    assert mail.context["date"] == "Wednesday 13 March 2030"
    escalation = alarm_named(state, ctx(date(2030, 3, 6)), "review-escalation")
    assert escalation.fires_on == date(2030, 3, 20)


def test_a_review_reminder_fired_after_the_review_was_held_sends_no_invite():
    state = in_provision()
    alarm = alarm_named(state, ctx(date(2030, 3, 4)), "review-reminder")
    state.reviews[0].held_on = date(2030, 3, 4)
    mail = only_mail(fire(state, alarm, ctx(date(2030, 3, 4))))
    assert mail.invite is None
    assert mail.context["date"] == "Monday 4 March 2030"


def test_the_review_escalation_raises_a_supervisor_alert():
    state = in_provision()
    fire(state, alarm_named(state, ctx(date(2030, 3, 18)), "review-escalation"), ctx(date(2030, 3, 18)))
    assert [(a.kind, a.raised_on, a.detail) for a in state.alerts] == [
        ("review_overdue", date(2030, 3, 18), "review-1 is 5 school days overdue")]


def test_review_alarms_run_while_reintegrating_too():
    state = reintegrating()
    assert {"review-reminder", "review-escalation"} <= set(kinds(unfired_alarms(state, ctx(date(2030, 3, 1)))))


def test_the_part_time_reminder_asks_for_a_full_time_return_or_an_extension():
    """The one ending email parent and school get (none when the plan is agreed: test_rules_letters); the
    officer gets it too."""
    state = reintegrating(end=date(2030, 3, 29))
    mail = only_mail(fire(state, alarm_named(state, ctx(date(2030, 3, 26)), "part-time-reminder"), ctx(date(2030, 3, 26))))
    assert (mail.template.value, mail.context["detail"]) == ("part_time_ending", PART_TIME_DETAIL)
    assert OFFICER_TO in [(r.role.value, r.ref) for r in mail.recipients]


def test_an_extended_plan_moves_its_part_time_alarms():
    state = reintegrating(end=date(2030, 3, 29))
    state.reintegration.end_date = date(2030, 5, 10)
    found = {a.kind: (a.id, a.fires_on) for a in unfired_alarms(state, ctx(date(2030, 3, 26)))}
    assert found["part-time-reminder"] == ("part-time-reminder:2030-05-10", date(2030, 5, 7))
    assert found["part-time-end"] == ("part-time-end:2030-05-10", date(2030, 5, 10))


def test_a_part_time_alarm_fired_without_a_plan_names_its_own_day():
    state = reintegrating()
    alarm = alarm_named(state, ctx(date(2030, 3, 26)), "part-time-reminder")
    state.reintegration = None
    assert only_mail(fire(state, alarm, ctx(date(2030, 3, 26)))).context["date"] == "Tuesday 26 March 2030"


def test_the_hospital_referral_alert_is_raised_to_supervisors_on_the_15th_school_day():
    state = _hospital_case()
    effects = fire(state, alarm_named(state, ctx(date(2030, 2, 4)), "hospital-referral"), ctx(date(2030, 2, 4)))
    mail = only_mail(effects)
    assert mail.template.value == "supervisor_alert"
    assert [(r.role.value, r.address, r.ref) for r in mail.recipients] == [("supervisors", None, None)]
    assert [(a.kind, a.raised_on) for a in state.alerts] == [("hospital_referral_due", date(2030, 2, 4))]


@pytest.mark.parametrize("stage", [Stage.NOTIFIED, Stage.AWAITING_CONSENT, Stage.GATHERING_EVIDENCE, Stage.DECIDING,
                                   Stage.COMMISSIONING])
def test_the_hospital_referral_is_watched_until_provision_starts(stage):
    state = _hospital_case()
    state.stage = stage
    assert "hospital-referral" in kinds(unfired_alarms(state, ctx(date(2030, 1, 14))))


def test_no_hospital_referral_after_discharge_or_once_provision_runs():
    state = _hospital_case()
    state.hospital_stays[0].discharged_on = date(2030, 1, 20)
    assert "hospital-referral" not in kinds(unfired_alarms(state, ctx(date(2030, 1, 21))))
    state = in_provision(hospital_stays=[HospitalStay(hospital="LRI", admitted_on=date(2030, 2, 4))])
    assert "hospital-referral" not in kinds(unfired_alarms(state, ctx(date(2030, 2, 4))))


def test_a_stalled_case_is_marked_and_alerted_once():
    state = case()
    fire(state, alarm_named(state, ctx(date(2030, 1, 21)), "stalled"), ctx(date(2030, 1, 21)))
    assert state.stalled is True
    assert [(a.kind, a.detail) for a in state.alerts] == [("stalled", "no recorded progress for 10 school days")]
    assert "stalled" not in kinds(unfired_alarms(state, ctx(date(2030, 1, 21))))


def test_the_stalled_clock_runs_from_the_last_progress_and_is_a_setting():
    state = case(last_progress_on=date(2030, 1, 14))
    alarm = alarm_named(state, ctx(date(2030, 1, 14), stalled_after=3), "stalled")
    assert (alarm.id, alarm.fires_on) == ("stalled:2030-01-14", date(2030, 1, 17))
    fire(state, alarm, ctx(date(2030, 1, 17), stalled_after=3))
    assert state.alerts[0].detail == "no recorded progress for 3 school days"


def test_no_stall_watch_once_provision_runs():
    assert "stalled" not in kinds(unfired_alarms(in_provision(), ctx(date(2030, 2, 1))))


def _term_alarm(state, name="2029-30 spring") -> Alarm:
    [alarm] = [a for a in unfired_alarms(state, ctx(date(2030, 2, 1))) if a.id == f"term-charge:{name}"]
    return alarm


def test_a_term_is_charged_from_the_start_of_provision():
    state = in_provision()
    effects = fire(state, _term_alarm(state), ctx(date(2030, 3, 30)))
    # 21 January to 29 March: the spring term's 55 school days less the first 10, at the 2029-30 rate.
    assert effects.recoupment == [RecoupmentLine(
        case_ref=CASE_REF, school_urn=SCHOOL_URN, period="2029-30 spring", from_date=date(2030, 1, 21),
        to_date=date(2030, 3, 29), school_days=45, key_stage=KeyStage.KS3, amount=DAILY * 45)]


def test_every_term_from_the_start_of_provision_has_its_charge():
    charges = [(a.id, a.fires_on) for a in unfired_alarms(in_provision(), ctx(date(2030, 2, 1))) if a.kind == "term-charge"]
    assert charges == [("term-charge:2029-30 spring", date(2030, 3, 30)), ("term-charge:2029-30 summer", date(2030, 7, 24)),
                       ("term-charge:2030-31 autumn", date(2030, 12, 20))]


def test_a_term_charge_starts_where_the_last_charge_stopped():
    line = RecoupmentLine(case_ref=CASE_REF, school_urn=SCHOOL_URN, period="settlement", from_date=date(2030, 1, 21),
                          to_date=date(2030, 2, 3), school_days=10, key_stage=KeyStage.KS3, amount=Decimal("100.00"))
    state = in_provision(recoupment_lines=[line])
    effects = fire(state, _term_alarm(state), ctx(date(2030, 3, 30)))
    assert [(r.from_date, r.school_days) for r in effects.recoupment] == [(date(2030, 2, 4), 35)]


def test_a_later_term_is_charged_from_its_own_start():
    state = in_provision()
    alarm = _term_alarm(state, "2029-30 summer")
    effects = fire(state, alarm, ctx(date(2030, 7, 24)))
    assert [(r.period, r.from_date, r.to_date) for r in effects.recoupment] == [
        ("2029-30 summer", date(2030, 4, 23), date(2030, 7, 23))]


@pytest.mark.parametrize("decision", [DecisionOutcome.SCHOOL_WORK, None])
def test_no_term_charges_for_education_the_la_does_not_arrange(decision):
    state = in_provision(decision=decision)
    assert "term-charge" not in kinds(unfired_alarms(state, ctx(date(2030, 2, 1))))


def test_a_term_charge_fired_after_recoupment_stopped_charges_nothing():
    state = in_provision()
    alarm = _term_alarm(state)
    state.decision = DecisionOutcome.SCHOOL_WORK
    effects = fire(state, alarm, ctx(date(2030, 3, 30)))
    assert effects.recoupment == []
    assert state.timeline[-1].summary == "recoupment charged for 2029-30 spring: 0 line(s)"


# --- which alarms a case has ------------------------------------------------------------------------


def test_a_closed_case_has_no_alarms():
    state = in_provision()
    state.stage = Stage.CLOSED
    assert unfired_alarms(state, ctx(date(2030, 2, 1))) == []


def test_alarms_come_in_firing_order():
    alarms = unfired_alarms(awaiting_consent(date(2030, 1, 7)), ctx(date(2030, 1, 7)))
    assert [(a.id, a.fires_on) for a in alarms] == [
        ("consent-reminder:2030-01-07", date(2030, 1, 10)),
        ("overdue:reply-to-consent:2030-01-10", date(2030, 1, 11)),
        ("consent-follow-up:2030-01-07", date(2030, 1, 14)),
        ("overdue:follow-up-consent:2030-01-14", date(2030, 1, 15)),
        ("stalled:2030-01-07", date(2030, 1, 21)),
    ]


def test_consent_alarms_only_while_consent_is_awaited():
    state = awaiting_consent()
    state.consent = state.consent.__class__("refused")
    assert not {"consent-reminder", "consent-follow-up"} & set(kinds(unfired_alarms(state, ctx(date(2030, 1, 8)))))


def test_an_alarm_the_calendar_cannot_place_is_left_for_later():
    # A timetable ending on the calendar's third school day: no school day 3 school days before it.
    state = reintegrating(start=date(2029, 9, 4), end=date(2029, 9, 6))
    found = kinds(unfired_alarms(state, ctx(date(2029, 9, 4))))
    assert "part-time-end" in found
    assert "part-time-reminder" not in found


def test_the_hospital_referral_alert_names_the_configured_school_days():
    state = _hospital_case()
    context = ctx(date(2030, 1, 28), hospital_referral_after=10)
    effects = fire(state, alarm_named(state, context, "hospital-referral"), context)
    assert only_mail(effects).context["detail"].startswith("in hospital for 10 school days")


def test_no_review_alarms_without_an_open_review():
    found = kinds(unfired_alarms(in_provision(reviews=[]), ctx(date(2030, 2, 1))))
    assert not {"review-reminder", "review-escalation"} & set(found)


def test_reintegration_started_at_a_review_has_no_part_time_alarms_until_a_plan_is_agreed():
    state = reintegrating()
    state.reintegration = None
    found = kinds(unfired_alarms(state, ctx(date(2030, 3, 1))))
    assert not {"part-time-reminder", "part-time-end"} & set(found)
    assert "review-reminder" in found


def test_no_part_time_alarms_for_a_plan_left_over_outside_reintegration():
    state = in_provision()
    state.reintegration = reintegrating().reintegration
    assert not {"part-time-reminder", "part-time-end"} & set(kinds(unfired_alarms(state, ctx(date(2030, 3, 1)))))


def test_provision_starting_on_a_term_s_last_day_is_charged_for_that_term():
    state = in_provision(start=date(2030, 3, 29))
    charges = [a.id for a in unfired_alarms(state, ctx(date(2030, 3, 29))) if a.kind == "term-charge"]
    assert charges[0] == "term-charge:2029-30 spring"
    effects = fire(state, _term_alarm(state), ctx(date(2030, 3, 30)))
    assert [(r.from_date, r.to_date, r.school_days, r.amount) for r in effects.recoupment] == [
        (date(2030, 3, 29), date(2030, 3, 29), 1, DAILY)]


def test_a_term_charge_never_reaches_back_before_provision_started():
    state = in_provision()
    state.school_spells = [state.school_spells[0].model_copy(update={"from_date": date(2030, 1, 7)})]
    effects = fire(state, _term_alarm(state), ctx(date(2030, 3, 30)))
    assert [(r.from_date, r.school_days) for r in effects.recoupment] == [(date(2030, 1, 21), 45)]


def test_a_timetable_ending_on_the_calendar_s_last_day_still_gets_its_reminder():
    # The calendar's last school day is Thursday 19 December 2030 and it covers up to 31 August 2031.
    state = reintegrating(start=date(2030, 12, 2), end=date(2031, 8, 31))
    alarm = alarm_named(state, ctx(date(2030, 12, 2)), "part-time-reminder")
    assert alarm.fires_on == date(2030, 12, 17)


def test_counting_school_days_back_says_why_it_cannot():
    with pytest.raises(ValueError, match=r"^no school day 3 school days before 2029-09-06$"):
        ctx(date(2029, 9, 4)).before(date(2029, 9, 6), 3)
    with pytest.raises(ValueError, match=r"^no school day 0 school days before 2030-01-10$"):
        ctx(date(2030, 1, 8)).before(date(2030, 1, 10), 0)
    with pytest.raises(ValueError, match="calendar does not cover"):
        ctx(date(2030, 1, 8)).before(date(2029, 9, 1), 1)
    assert ctx(date(2030, 1, 8)).before(date(2030, 1, 10), 2) == date(2030, 1, 8)
    assert ctx(date(2030, 1, 8)).before(date(2030, 1, 7), 1) == date(2029, 12, 20)  # across the holidays
