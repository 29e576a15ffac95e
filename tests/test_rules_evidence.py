"""The evidence and the referral decision, command by command: requests to consented professionals,
evidence received (and when that closes the evidence stage), and each decision outcome (LA provision,
school work, not eligible, more evidence) with its letter.

State in, command, effects out; or the refusal and its exact message. Pure, fixed dates (see
tests/rule_fixtures.py).
"""

from datetime import date

import pytest

from domain import case_commands as c
from domain.case_state import ConsentStatus, EvidenceItem
from domain.case_transitions import apply
from domain.stages import Action, Stage
from tests.rule_fixtures import (
    CASE_REF,
    CASEWORKER,
    CONSULTANT_EMAIL,
    GP_EMAIL,
    PARENT_TO,
    SCHOOL_TO,
    awaiting_consent,
    case,
    ctx,
    deciding,
    gathering,
    last_event,
    mails,
    refusal,
)

DOC_A = "doc-" + "a" * 64
DOC_B = "doc-" + "b" * 64



# --- evidence --------------------------------------------------------------------------------------


def test_evidence_is_requested_from_each_consented_professional_once():
    state = gathering(date(2030, 1, 8))
    effects = apply(state, Action.REQUEST_EVIDENCE,
                    c.RequestEvidence(actor=CASEWORKER, professional_ids=["consultant-1", "gp-1", "consultant-1"]),
                    ctx(date(2030, 1, 9)))
    assert [(r.professional_id, r.requested_on, r.received_on) for r in state.evidence_requests] == [
        ("consultant-1", date(2030, 1, 9), None), ("gp-1", date(2030, 1, 9), None)]
    assert mails(effects) == [("evidence_request", [("professional", CONSULTANT_EMAIL)]),
                              ("evidence_request", [("professional", GP_EMAIL)])]
    assert [r.ref for m in effects.emails for r in m.recipients] == ["consultant-1", "gp-1"]
    assert [m.idempotency_key for m in effects.emails] == [f"{CASE_REF}:1:evidence-request:consultant-1",
                                                           f"{CASE_REF}:1:evidence-request:gp-1"]
    assert last_event(state).summary == "evidence requested from 2 professional(s)"
    assert state.stage is Stage.GATHERING_EVIDENCE


def test_a_professional_with_an_open_request_is_not_asked_twice():
    state = gathering(date(2030, 1, 8), requests=("consultant-1",))
    effects = apply(state, Action.REQUEST_EVIDENCE, c.RequestEvidence(actor=CASEWORKER, professional_ids=["consultant-1"]),
                    ctx(date(2030, 1, 9)))
    assert mails(effects) == []
    assert len(state.evidence_requests) == 1
    assert last_event(state).summary == "evidence requested from 0 professional(s)"


def test_a_professional_who_already_answered_can_be_asked_again():
    state = gathering(date(2030, 1, 8), requests=("consultant-1",))
    state.evidence_requests[0].received_on = date(2030, 1, 9)
    effects = apply(state, Action.REQUEST_EVIDENCE, c.RequestEvidence(actor=CASEWORKER, professional_ids=["consultant-1"]),
                    ctx(date(2030, 1, 10)))
    assert mails(effects) == [("evidence_request", [("professional", CONSULTANT_EMAIL)])]
    assert len(state.evidence_requests) == 2


def test_asking_for_more_evidence_while_deciding_reopens_the_evidence_stage():
    state = deciding(date(2030, 1, 15))
    apply(state, Action.REQUEST_EVIDENCE, c.RequestEvidence(actor=CASEWORKER, professional_ids=["gp-1"]),
          ctx(date(2030, 1, 16)))
    assert state.stage is Stage.GATHERING_EVIDENCE
    assert (state.evidence_opened_on, state.evidence_closed_on) == (date(2030, 1, 16), None)


@pytest.mark.parametrize(
    ("state", "ids", "message"),
    [
        (gathering(consent=ConsentStatus.REFUSED), ["gp-1"],
         "evidence can be requested only with the parent's consent (consent is refused)"),
        (gathering(), ["camhs-9"], "no consent to contact professional(s): camhs-9"),
        (gathering(), ["camhs-9", "gp-1", "sn-2"], "no consent to contact professional(s): camhs-9, sn-2"),
    ],
)
def test_evidence_requests_refused(state, ids, message):
    cmd = c.RequestEvidence(actor=CASEWORKER, professional_ids=ids)
    assert str(refusal(state, Action.REQUEST_EVIDENCE, cmd, ctx(date(2030, 1, 9)))) == message


def test_evidence_received_from_the_last_professional_moves_the_case_to_deciding():
    state = gathering(date(2030, 1, 8), requests=("consultant-1", "gp-1"))
    apply(state, Action.RECORD_EVIDENCE, c.RecordEvidence(actor=CASEWORKER, document_ref=DOC_A, professional_id="gp-1",
                                                          kind=c.EvidenceKind.GP_LETTER, received_on=date(2030, 1, 9)),
          ctx(date(2030, 1, 10)))
    assert state.stage is Stage.GATHERING_EVIDENCE  # one of two is in
    assert last_event(state).summary == "evidence received (gp_letter)"
    assert [r.received_on for r in state.evidence_requests] == [None, date(2030, 1, 10)]
    assert state.evidence == [EvidenceItem(document_ref=DOC_A, kind=c.EvidenceKind.GP_LETTER, professional_id="gp-1",
                                           received_on=date(2030, 1, 9))]

    apply(state, Action.RECORD_EVIDENCE,
          c.RecordEvidence(actor=CASEWORKER, document_ref=DOC_B, professional_id="consultant-1",
                           kind=c.EvidenceKind.CONSULTANT_LETTER), ctx(date(2030, 1, 11)))
    assert state.stage is Stage.DECIDING
    assert state.evidence_closed_on == date(2030, 1, 11)
    assert state.evidence[-1].received_on == date(2030, 1, 11)  # today, when not given
    assert last_event(state).summary == "evidence received (consultant_letter); all requested evidence is in"


def test_evidence_nobody_was_asked_for_is_kept_without_closing_the_evidence_stage():
    state = gathering(date(2030, 1, 8))
    apply(state, Action.RECORD_EVIDENCE,
          c.RecordEvidence(actor=CASEWORKER, document_ref=DOC_A, kind=c.EvidenceKind.APPOINTMENT_CARD),
          ctx(date(2030, 1, 9)))
    assert state.stage is Stage.GATHERING_EVIDENCE  # nothing was requested, so nothing is "complete"
    assert len(state.evidence) == 1


def test_evidence_without_a_professional_leaves_the_open_requests_open():
    state = gathering(date(2030, 1, 8), requests=("gp-1",))
    apply(state, Action.RECORD_EVIDENCE,
          c.RecordEvidence(actor=CASEWORKER, document_ref=DOC_A, kind=c.EvidenceKind.PRESCRIPTION),
          ctx(date(2030, 1, 9)))
    assert state.evidence_requests[0].received_on is None
    assert state.stage is Stage.GATHERING_EVIDENCE


@pytest.mark.parametrize("make", [awaiting_consent, deciding])
def test_evidence_outside_the_evidence_stage_does_not_move_the_case(make):
    state = make()
    stage = state.stage
    apply(state, Action.RECORD_EVIDENCE,
          c.RecordEvidence(actor=CASEWORKER, document_ref=DOC_A, kind=c.EvidenceKind.GP_LETTER), ctx(date(2030, 1, 16)))
    assert state.stage is stage
    assert len(state.evidence) == 1


@pytest.mark.parametrize(
    ("cmd", "message"),
    [
        (c.RecordEvidence(actor=CASEWORKER, document_ref=DOC_B, kind=c.EvidenceKind.GP_LETTER, professional_id="x-1"),
         "unknown professional: x-1"),
        (c.RecordEvidence(actor=CASEWORKER, document_ref=DOC_A, kind=c.EvidenceKind.GP_LETTER),
         "this document is already recorded as evidence"),
        (c.RecordEvidence(actor=CASEWORKER, document_ref=DOC_B, kind=c.EvidenceKind.GP_LETTER,
                          received_on=date(2030, 1, 11)), "received_on is in the future"),
    ],
)
def test_evidence_refused(cmd, message):
    state = gathering(date(2030, 1, 8))
    state.evidence.append(EvidenceItem(document_ref=DOC_A, kind=c.EvidenceKind.GP_LETTER, professional_id=None,
                                       received_on=date(2030, 1, 9)))
    assert str(refusal(state, Action.RECORD_EVIDENCE, cmd, ctx(date(2030, 1, 10)))) == message


def test_evidence_received_today_is_taken():
    state = gathering(date(2030, 1, 8))
    apply(state, Action.RECORD_EVIDENCE, c.RecordEvidence(actor=CASEWORKER, document_ref=DOC_A, kind=c.EvidenceKind.OTHER,
                                                          received_on=date(2030, 1, 10)), ctx(date(2030, 1, 10)))
    assert state.evidence[0].received_on == date(2030, 1, 10)


# --- the referral decision -------------------------------------------------------------------------

LETTER_WORDS = {
    c.DecisionOutcome.LA_PROVISION: "The local authority will arrange education for your child.",
    c.DecisionOutcome.SCHOOL_WORK: "Your child's school will provide work, with advice from the Inclusion Service.",
    c.DecisionOutcome.NOT_ELIGIBLE: "The Inclusion Service will not arrange education at this time.",
}


@pytest.mark.parametrize("outcome", [c.DecisionOutcome.LA_PROVISION, c.DecisionOutcome.SCHOOL_WORK])
def test_a_decision_to_provide_sends_the_letter_and_moves_to_commissioning(outcome):
    state = deciding(date(2030, 1, 15))
    effects = apply(state, Action.DECIDE, c.Decide(actor=CASEWORKER, outcome=outcome, reason="consultant letter"),
                    ctx(date(2030, 1, 16)))
    assert state.stage is Stage.COMMISSIONING
    assert (state.decision, state.decision_reason, state.decided_on) == (outcome, "consultant letter", date(2030, 1, 16))
    assert state.evidence_closed_on == date(2030, 1, 15)  # kept: the evidence closed when it closed
    mail = effects.emails[0]
    # The parent's letter with the reasons; the school its own notice (tests/test_rules_letters.py).
    assert mails(effects) == [("decision_letter", [PARENT_TO]), ("decision_notice_school", [SCHOOL_TO])]
    assert mail.context["detail"] == f"{LETTER_WORDS[outcome]}\n\nThe reasons for our decision: consultant letter"
    assert mail.context["date"] == "Wednesday 16 January 2030"
    assert mail.idempotency_key == f"{CASE_REF}:1:decision"
    assert last_event(state).summary == f"decision: {outcome.value}"
    assert effects.recoupment == []


def test_not_eligible_closes_the_case_with_the_letter_alone():
    state = deciding(date(2030, 1, 15))
    effects = apply(state, Action.DECIDE,
                    c.Decide(actor=CASEWORKER, outcome=c.DecisionOutcome.NOT_ELIGIBLE, reason="back at school"),
                    ctx(date(2030, 1, 16)))
    assert state.stage is Stage.CLOSED
    assert (state.close_outcome, state.closed_on, state.close_reason) == (
        c.CloseOutcome.NOT_ELIGIBLE, date(2030, 1, 16), "back at school")
    # No separate "case closed": the parent's letter (with the reasons) and the school's notice.
    assert mails(effects) == [("decision_letter", [PARENT_TO]), ("decision_notice_school", [SCHOOL_TO])]
    assert effects.emails[0].context["detail"] == (
        f"{LETTER_WORDS[c.DecisionOutcome.NOT_ELIGIBLE]}\n\nThe reasons for our decision: back at school")
    assert effects.recoupment == []
    assert [e.summary for e in state.timeline[-2:]] == ["decision: not_eligible",
                                                        "case closed: not_eligible on 2030-01-16"]


def test_deciding_before_any_evidence_closes_the_evidence_today():
    state = case()  # notified: no consent asked, no evidence; the officer may still decide
    apply(state, Action.DECIDE, c.Decide(actor=CASEWORKER, outcome=c.DecisionOutcome.LA_PROVISION, reason="GP letter"),
          ctx(date(2030, 1, 9)))
    assert state.stage is Stage.COMMISSIONING
    assert state.evidence_closed_on == date(2030, 1, 9)


def test_more_evidence_with_consent_reopens_the_evidence_stage_without_a_letter():
    state = deciding(date(2030, 1, 15))
    effects = apply(state, Action.DECIDE,
                    c.Decide(actor=CASEWORKER, outcome=c.DecisionOutcome.MORE_EVIDENCE, reason="need consultant"),
                    ctx(date(2030, 1, 16)))
    assert state.stage is Stage.GATHERING_EVIDENCE
    assert (state.evidence_opened_on, state.evidence_closed_on) == (date(2030, 1, 16), None)
    assert (state.decision, state.decided_on) == (c.DecisionOutcome.MORE_EVIDENCE, date(2030, 1, 16))
    assert mails(effects) == []
    assert last_event(state).summary == "more evidence needed before a decision"


@pytest.mark.parametrize("consent", [ConsentStatus.NOT_REQUESTED, ConsentStatus.REFUSED, ConsentStatus.WITHDRAWN])
def test_more_evidence_without_consent_goes_back_to_asking_for_it(consent):
    state = deciding(date(2030, 1, 15), consent=consent)
    apply(state, Action.DECIDE, c.Decide(actor=CASEWORKER, outcome=c.DecisionOutcome.MORE_EVIDENCE, reason="x"),
          ctx(date(2030, 1, 16)))
    assert state.stage is Stage.AWAITING_CONSENT
    assert (state.evidence_opened_on, state.evidence_closed_on) == (date(2030, 1, 16), None)
