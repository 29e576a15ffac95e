"""The timers of a case: reminders, chasers, escalations, overdue marks and term-end charges.

Like pending tasks, alarms are derived from the state: the workflow sleeps until the earliest alarm not
yet fired, so any change that moves a deadline moves its timer. An alarm's id names the deadline it
belongs to; once fired it is kept in `fired_alarms` and never fires again."""

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

from pydantic import BaseModel

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
from domain.case_state import CaseState, ConsentStatus
from domain.email_models import EmailTemplate
from domain.pending_tasks import hospital_referral_due_on, pending_tasks, review_escalation_on
from domain.people import SYSTEM_ACTOR
from domain.recoupment_charges import recoups, term_lines
from domain.review_invites import review_invite
from domain.stages import Stage
from domain.supervisor_alerts import raise_alert

_BEFORE_PROVISION = {Stage.NOTIFIED, Stage.AWAITING_CONSENT, Stage.GATHERING_EVIDENCE, Stage.DECIDING,
                     Stage.COMMISSIONING}


class Alarm(BaseModel):
    id: str
    kind: str
    fires_on: date
    subject: str = ""

    def fires_at(self, ctx: CaseContext) -> datetime:
        return datetime.combine(self.fires_on, time(ctx.clocks.alarm_hour_utc), tzinfo=UTC)


def _candidates(state: CaseState, ctx: CaseContext) -> list[Alarm]:
    c = ctx.clocks
    out: list[Alarm] = []

    def add(kind: str, key: str, when: Callable[[], date], subject: str = "") -> None:
        try:
            fires_on = when()
        except ValueError:  # beyond the calendar held: the rules are reloaded before it matters
            return
        out.append(Alarm(id=f"{kind}:{key}", kind=kind, fires_on=fires_on, subject=subject))

    if state.stage is Stage.CLOSED:
        return out
    if state.stage is Stage.AWAITING_CONSENT and state.consent is ConsentStatus.REQUESTED and state.consent_requested_on:
        asked = state.consent_requested_on
        add("consent-reminder", str(asked), lambda: ctx.after(asked, c.consent_parent_reminder_after))
        add("consent-follow-up", str(asked), lambda: ctx.after(asked, c.consent_officer_task_after))
    if state.stage is Stage.GATHERING_EVIDENCE:
        for r in state.evidence_requests:
            if r.received_on is None:
                add("evidence-chase", f"{r.professional_id}:{r.requested_on}",
                    lambda r=r: ctx.after(r.requested_on, c.evidence_chase_after), r.professional_id)
        if state.evidence_opened_on:
            opened = state.evidence_opened_on
            add("evidence-deadline", str(opened), lambda: ctx.after(opened, c.evidence_decide_after))
    review = state.next_review
    if review is not None and state.stage in (Stage.IN_PROVISION, Stage.REINTEGRATING):
        target = review.target_date
        add("review-reminder", f"{review.id}:{target}", lambda: ctx.before(target, c.review_reminder_before), review.id)
        add("review-escalation", f"{review.id}:{target}", lambda: review_escalation_on(target, ctx), review.id)
    plan = state.reintegration
    if plan is not None and state.stage is Stage.REINTEGRATING:
        end = plan.end_date
        add("part-time-reminder", str(end), lambda: ctx.before(end, c.part_time_reminder_before))
        add("part-time-end", str(end), lambda: end)
    if state.in_hospital and state.stage in _BEFORE_PROVISION:
        stay = state.hospital_stays[-1]
        add("hospital-referral", str(stay.admitted_on), lambda: hospital_referral_due_on(stay, ctx))
    if state.stage in _BEFORE_PROVISION and not state.stalled:
        last = state.last_progress_on
        add("stalled", str(last), lambda: ctx.after(last, c.stalled_after))
    if recoups(state):
        for term in ctx.calendar.data.terms:
            if term.end >= state.provision_started_on:
                add("term-charge", term.name, lambda term=term: term.end + timedelta(days=1), term.name)
    for task in pending_tasks(state, ctx):
        add("overdue", f"{task.id}:{task.due_on}", lambda task=task: task.due_on + timedelta(days=1), task.id)
    return out


def unfired_alarms(state: CaseState, ctx: CaseContext) -> list[Alarm]:
    fired = set(state.fired_alarms)
    return sorted((a for a in _candidates(state, ctx) if a.id not in fired), key=lambda a: (a.fires_on, a.id))


def fire(state: CaseState, alarm: Alarm, ctx: CaseContext) -> Effects:
    """Carry out an alarm's change to the case and return its effects."""
    state.fired_alarms.append(alarm.id)
    effects = Effects()
    key = f"alarm:{alarm.id}"
    on = alarm.fires_on
    summary = alarm.kind.replace("-", " ")
    match alarm.kind:
        case "consent-reminder":
            effects.emails.append(email(state, key, EmailTemplate.CONSENT_REMINDER, [parent(state)], on=on))
        case "consent-follow-up":
            effects.emails.append(email(state, key, EmailTemplate.CONSENT_FOLLOW_UP,
                                        [officer_or_supervisors(state)], on=on))
        case "evidence-chase":
            who = next((p for p in state.professionals if p.id == alarm.subject), None)
            if who is not None:
                effects.emails.append(evidence_email(state, key, EmailTemplate.EVIDENCE_CHASER, who, on=on))
            summary = f"evidence chased from {alarm.subject}"
        case "evidence-deadline":
            state.stage = Stage.DECIDING
            state.evidence_closed_on = on
            effects.emails.append(email(state, key, EmailTemplate.DECIDE_ON_EVIDENCE_HELD,
                                        [officer_or_supervisors(state)], on=on))
            summary = "evidence deadline passed: decide on the evidence held"
        case "review-reminder":
            review = state.next_review
            invite = review_invite(state, review, ctx) if review else None
            effects.emails.append(email(state, key, EmailTemplate.REVIEW_REMINDER,
                                        [parent(state), school(state), officer_or_supervisors(state)],
                                        on=review.target_date if review else on, invite=invite))
        case "review-escalation":
            detail = f"{alarm.subject} is {ctx.clocks.review_escalate_after} school days overdue"
            effects.emails.append(raise_alert(state, "review_overdue", detail, ctx, key=key,
                                              template=EmailTemplate.REVIEW_ESCALATION))
            summary = f"overdue {alarm.subject} escalated to supervisors"
        case "part-time-reminder" | "part-time-end":
            # Parent and school are told once, near the end (the reminder setting); on the day, the officer.
            told = [parent(state), school(state)] if alarm.kind == "part-time-reminder" else []
            effects.emails.append(email(state, key, EmailTemplate.PART_TIME_ENDING,
                                        [*told, officer_or_supervisors(state)],
                                        on=state.reintegration.end_date if state.reintegration else on,
                                        detail="Please confirm the full-time return, or agree an extension."))
        case "hospital-referral":
            stay = state.hospital_stays[-1] if state.hospital_stays else None
            if stay is not None and stay.expected_discharge is not None and alarm.fires_on < ctx.after(
                    stay.admitted_on, ctx.clocks.hospital_referral_after):
                detail = (f"expected in hospital until {stay.expected_discharge.isoformat()}, beyond "
                          f"{ctx.clocks.hospital_referral_after} school days: refer for hospital education")
            else:
                detail = (f"in hospital for {ctx.clocks.hospital_referral_after} school days: refer for "
                          "hospital education")
            effects.emails.append(raise_alert(state, "hospital_referral_due", detail, ctx, key=key))
        case "stalled":
            state.stalled = True
            detail = f"no recorded progress for {ctx.clocks.stalled_after} school days"
            effects.emails.append(raise_alert(state, "stalled", detail, ctx, key=key))
            summary = "case stalled: raised to supervisors"
        case "term-charge":
            effects.recoupment = term_lines(state, ctx, alarm.subject)
            summary = f"recoupment charged for {alarm.subject}: {len(effects.recoupment)} line(s)"
        case "overdue":
            summary = f"task overdue: {alarm.subject}"
    record_event(state, at=ctx.now, actor=SYSTEM_ACTOR, action=f"timer:{alarm.kind}", summary=summary)
    return effects
