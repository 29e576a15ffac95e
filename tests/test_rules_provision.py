"""The rules of commissioning, command by command: provision lines (and the s19(3AA) part-time rule),
re-commissioning, the named officer, and hospital admissions and discharges.

State in, command, effects out; or the refusal and its exact message. Pure, fixed dates (see
tests/rule_fixtures.py: spring 2030 runs 7 January - 29 March, half-term 18-22 February; £10 a school day).
"""

from datetime import date

import pytest

from domain import case_commands as c
from domain.case_state import HospitalStay, Review
from domain.case_transitions import apply
from domain.provision import ProvisionKind
from domain.recoupment import SchoolSpell
from domain.stages import Action, Stage
from tests.rule_fixtures import (
    CASE_REF,
    CASEWORKER,
    OFFICER_NAME,
    PARENT_TO,
    SCHOOL_URN,
    SUPERVISOR,
    case,
    commission,
    commissioning,
    ctx,
    in_provision,
    mails,
    only_mail,
    provision,
    rejected,
    summary,
)

# --- commissioning ---------------------------------------------------------------------------------


def test_first_commissioning_starts_provision_the_school_spell_the_first_review_and_names_the_officer():
    state = commissioning()
    effects = apply(state, Action.COMMISSION_PROVISION, commission(provision(date(2030, 1, 21)), officer=OFFICER_NAME),
                    ctx(date(2030, 1, 17)))
    assert state.stage is Stage.IN_PROVISION
    assert state.provisions == [provision(date(2030, 1, 21))]
    assert state.provision_started_on == date(2030, 1, 21)
    assert state.school_spells == [SchoolSpell(school_urn=SCHOOL_URN, from_date=date(2030, 1, 21), to_date=None)]
    # The first TAS review: 6 school weeks (30 school days) after the start, across half-term.
    assert state.reviews == [Review(id="review-1", due_on=date(2030, 3, 11))]
    assert state.officer == OFFICER_NAME
    assert mails(effects) == [("officer_assigned", [PARENT_TO])]
    assert only_mail(effects).context["officer"] == OFFICER_NAME
    assert only_mail(effects).idempotency_key == f"{CASE_REF}:1:officer:{OFFICER_NAME}"
    assert effects.recoupment == []  # charges come at term end and at closure
    assert summary(state) == "provision commissioned from 2030-01-21: home_tuition"


def test_commissioning_with_the_officer_already_named_sends_no_email():
    state = commissioning(officer=OFFICER_NAME)
    effects = apply(state, Action.COMMISSION_PROVISION, commission(provision(), officer=OFFICER_NAME), ctx(date(2030, 1, 17)))
    assert mails(effects) == []
    effects = apply(in_provision(), Action.COMMISSION_PROVISION, commission(provision(date(2030, 2, 4))),
                    ctx(date(2030, 2, 1)))
    assert mails(effects) == []


def test_commissioning_starts_from_the_earliest_line_and_names_each_kind_once():
    state = commissioning(officer=OFFICER_NAME)
    lines = [provision(date(2030, 1, 28), "10", kind=ProvisionKind.VIRTUAL_SCHOOL),
             provision(date(2030, 1, 21), "25"), provision(date(2030, 1, 21), "5", kind=ProvisionKind.VIRTUAL_SCHOOL)]
    apply(state, Action.COMMISSION_PROVISION, commission(*lines), ctx(date(2030, 1, 17)))
    assert state.provision_started_on == date(2030, 1, 21)
    assert summary(state) == "provision commissioned from 2030-01-21: home_tuition, virtual_school"


def test_commissioning_needs_a_named_officer():
    message = rejected(commissioning(), Action.COMMISSION_PROVISION, commission(provision()), ctx(date(2030, 1, 17)))
    assert message == "name the education officer: provision is commissioned with a named officer"


# s19(3AA): part-time only for health reasons, recorded; cost is never a reason.
S19 = ("{hours} hours a week is less than full time (25.0): record the health reason "
       "(Education Act 1996 s19(3AA)); cost is never a reason")


@pytest.mark.parametrize(
    ("lines", "reason", "refused_hours"),
    [
        ([provision(hours="20")], None, "20"),
        ([provision(hours="20")], "   ", "20"),
        ([provision(hours="24.99")], "", "24.99"),
        ([provision(hours="20")], "fatigue after chemotherapy", None),
        ([provision(hours="25")], None, None),
        ([provision(hours="15"), provision(hours="10", kind=ProvisionKind.VIRTUAL_SCHOOL)], None, None),
        # Hours starting later do not make the first week full-time.
        ([provision(hours="15"), provision(date(2030, 1, 28), "10", kind=ProvisionKind.VIRTUAL_SCHOOL)], None, "15"),
        # A line that has already ended by the start does not count either.
        ([provision(date(2030, 1, 14), "15", end=date(2030, 1, 18)),
          provision(date(2030, 1, 21), "10", kind=ProvisionKind.VIRTUAL_SCHOOL)], None, "15"),
    ],
)
def test_part_time_provision_needs_a_recorded_health_reason(lines, reason, refused_hours):
    state = commissioning(officer=OFFICER_NAME)
    cmd = commission(*lines, reason=reason)
    if refused_hours is not None:
        assert rejected(state, Action.COMMISSION_PROVISION, cmd, ctx(date(2030, 1, 10))) == S19.format(hours=refused_hours)
        return
    apply(state, Action.COMMISSION_PROVISION, cmd, ctx(date(2030, 1, 10)))
    assert state.stage is Stage.IN_PROVISION
    assert state.part_time_health_reason == reason


def test_full_time_is_the_council_s_setting():
    state = commissioning(officer=OFFICER_NAME)
    apply(state, Action.COMMISSION_PROVISION, commission(provision(hours="20")),
          ctx(date(2030, 1, 17), full_time_hours_per_week=20))
    assert state.stage is Stage.IN_PROVISION
    state = commissioning(officer=OFFICER_NAME)
    message = rejected(state, Action.COMMISSION_PROVISION, commission(provision(hours="20")),
                       ctx(date(2030, 1, 17), full_time_hours_per_week=30))
    assert message.startswith("20 hours a week is less than full time (30.0)")


def test_a_provision_line_cannot_end_before_it_starts():
    cmd = commission(provision(date(2030, 1, 21), end=date(2030, 1, 18)), reason="fatigue")
    message = rejected(commissioning(officer=OFFICER_NAME), Action.COMMISSION_PROVISION, cmd, ctx(date(2030, 1, 17)))
    assert message == "provisions[0].end_date 2030-01-18 is before its start_date 2030-01-21"


def test_a_provision_line_may_end_the_day_it_starts():
    state = commissioning(officer=OFFICER_NAME)
    apply(state, Action.COMMISSION_PROVISION, commission(provision(date(2030, 1, 21), end=date(2030, 1, 21))),
          ctx(date(2030, 1, 17)))
    assert state.provisions[0].end_date == date(2030, 1, 21)


def test_re_commissioning_ends_the_running_lines_the_day_before_and_drops_lines_not_yet_started():
    running = provision(date(2030, 1, 21), "25")
    ends_later = provision(date(2030, 1, 21), "5", kind=ProvisionKind.VIRTUAL_SCHOOL, end=date(2030, 3, 29))
    ended = provision(date(2030, 1, 21), "5", kind=ProvisionKind.WORK_FROM_SCHOOL, end=date(2030, 1, 25))
    future = provision(date(2030, 3, 4), "5", kind=ProvisionKind.HOSPITAL_SCHOOL)
    state = in_provision(provisions=[running, ends_later, ended, future], part_time_health_reason="anxiety")
    reviews = [r.model_copy() for r in state.reviews]
    new = provision(date(2030, 2, 4), "25", kind=ProvisionKind.HOSPITAL_EDUCATION)
    effects = apply(state, Action.COMMISSION_PROVISION, commission(new, reason=None), ctx(date(2030, 2, 1)))
    assert [(p.kind.value, p.start_date, p.end_date) for p in state.provisions] == [
        ("home_tuition", date(2030, 1, 21), date(2030, 2, 3)),
        ("virtual_school", date(2030, 1, 21), date(2030, 2, 3)),
        ("work_from_school", date(2030, 1, 21), date(2030, 1, 25)),
        ("hospital_education", date(2030, 2, 4), None),
    ]
    # The case keeps its start, school spell, reviews and stage; the earlier health reason stands.
    assert state.provision_started_on == date(2030, 1, 21)
    assert len(state.school_spells) == 1
    assert state.reviews == reviews
    assert state.stage is Stage.IN_PROVISION
    assert state.part_time_health_reason == "anxiety"
    assert mails(effects) == [] and effects.recoupment == []
    assert summary(state) == "provision commissioned from 2030-02-04: hospital_education"


def test_re_commissioning_part_time_needs_the_reason_again_only_if_none_is_given():
    state = in_provision()
    message = rejected(state, Action.COMMISSION_PROVISION, commission(provision(date(2030, 2, 4), "10")),
                       ctx(date(2030, 2, 1)))
    assert message == S19.format(hours="10")
    apply(state, Action.COMMISSION_PROVISION, commission(provision(date(2030, 2, 4), "10"), reason="surgery"),
          ctx(date(2030, 2, 1)))
    assert state.part_time_health_reason == "surgery"


def test_re_commissioning_with_a_new_officer_tells_the_parent():
    state = in_provision()
    effects = apply(state, Action.COMMISSION_PROVISION, commission(provision(date(2030, 2, 4)), officer="officer-zz"),
                    ctx(date(2030, 2, 1)))
    assert state.officer == "officer-zz"
    assert mails(effects) == [("officer_assigned", [PARENT_TO])]


# --- the named officer -----------------------------------------------------------------------------


def test_assigning_the_officer_tells_the_parent_who_it_is():
    state = commissioning()
    effects = apply(state, Action.ASSIGN_OFFICER, c.AssignOfficer(actor=SUPERVISOR, officer="officer-kp"),
                    ctx(date(2030, 1, 17)))
    assert state.officer == "officer-kp"
    mail = only_mail(effects)
    assert mails(effects) == [("officer_assigned", [PARENT_TO])]
    assert mail.context["officer"] == "officer-kp"
    assert mail.idempotency_key == f"{CASE_REF}:1:officer:officer-kp"
    assert summary(state) == "education officer assigned: officer-kp"
    assert state.stage is Stage.COMMISSIONING


# --- hospital --------------------------------------------------------------------------------------


def test_an_admission_and_a_discharge_are_recorded_with_the_school_days_between():
    state = in_provision()
    effects = apply(state, Action.RECORD_HOSPITAL_ADMISSION,
                    c.RecordHospitalAdmission(actor=CASEWORKER, admitted_on=date(2030, 2, 13), hospital="LRI"),
                    ctx(date(2030, 2, 14)))
    assert state.hospital_stays == [HospitalStay(hospital="LRI", admitted_on=date(2030, 2, 13),
                                                 recorded_on=date(2030, 2, 14))]
    assert state.in_hospital
    assert mails(effects) == []
    assert summary(state) == "hospital admission 2030-02-13"
    apply(state, Action.RECORD_HOSPITAL_DISCHARGE,
          c.RecordHospitalDischarge(actor=CASEWORKER, discharged_on=date(2030, 2, 26)), ctx(date(2030, 2, 26)))
    assert state.hospital_stays[0].discharged_on == date(2030, 2, 26)
    assert not state.in_hospital
    # After Wednesday 13 February: 14, 15, (half-term), 25, 26.
    assert summary(state) == "hospital discharge 2030-02-26 after 4 school day(s)"


@pytest.mark.parametrize(
    ("stays", "action", "cmd", "message"),
    [
        ([HospitalStay(hospital="LRI", admitted_on=date(2030, 2, 4))], Action.RECORD_HOSPITAL_ADMISSION,
         c.RecordHospitalAdmission(actor=CASEWORKER, admitted_on=date(2030, 2, 11), hospital="LRI"),
         "the child is already recorded as in hospital"),
        ([], Action.RECORD_HOSPITAL_ADMISSION,
         c.RecordHospitalAdmission(actor=CASEWORKER, admitted_on=date(2030, 2, 15), hospital="LRI"),
         "admitted_on is in the future"),
        ([], Action.RECORD_HOSPITAL_DISCHARGE, c.RecordHospitalDischarge(actor=CASEWORKER, discharged_on=date(2030, 2, 14)),
         "the child is not recorded as in hospital"),
        ([HospitalStay(hospital="LRI", admitted_on=date(2030, 2, 4), discharged_on=date(2030, 2, 6))],
         Action.RECORD_HOSPITAL_DISCHARGE, c.RecordHospitalDischarge(actor=CASEWORKER, discharged_on=date(2030, 2, 14)),
         "the child is not recorded as in hospital"),
        ([HospitalStay(hospital="LRI", admitted_on=date(2030, 2, 4))], Action.RECORD_HOSPITAL_DISCHARGE,
         c.RecordHospitalDischarge(actor=CASEWORKER, discharged_on=date(2030, 2, 1)), "discharged_on is before the admission"),
        ([HospitalStay(hospital="LRI", admitted_on=date(2030, 2, 4))], Action.RECORD_HOSPITAL_DISCHARGE,
         c.RecordHospitalDischarge(actor=CASEWORKER, discharged_on=date(2030, 2, 15)), "discharged_on is in the future"),
    ],
)
def test_hospital_records_refused(stays, action, cmd, message):
    assert rejected(in_provision(hospital_stays=stays), action, cmd, ctx(date(2030, 2, 14))) == message


def test_a_same_day_discharge_and_a_readmission_are_taken():
    state = case(hospital_stays=[HospitalStay(hospital="LRI", admitted_on=date(2030, 2, 14))])
    apply(state, Action.RECORD_HOSPITAL_DISCHARGE,
          c.RecordHospitalDischarge(actor=CASEWORKER, discharged_on=date(2030, 2, 14)), ctx(date(2030, 2, 14)))
    assert summary(state) == "hospital discharge 2030-02-14 after 0 school day(s)"
    apply(state, Action.RECORD_HOSPITAL_ADMISSION,
          c.RecordHospitalAdmission(actor=CASEWORKER, admitted_on=date(2030, 2, 14), hospital="GH"),
          ctx(date(2030, 2, 14)))
    assert [s.hospital for s in state.hospital_stays] == ["LRI", "GH"] and state.in_hospital
