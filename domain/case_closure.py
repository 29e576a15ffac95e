"""How a case closes, and how a supervisor undoes a closure made in error.

Every closure, whatever action made it (`close`, a `not_eligible` decision, a review that closes the
case, a confirmed full-time return), goes through `close` and is on the timeline. A closure can be
undone by a supervisor for `reopen_within` school days after it was recorded (`reopen`), with a
reason; the case goes back to the stage it was in, its recoupment carries on from where the
settlement stopped (nothing is charged twice), and parent and school are told."""

from datetime import date, timedelta

from domain import case_commands as c
from domain import review_invites as invites
from domain.case_actions import offered_to, reopen_until
from domain.case_context import CaseContext
from domain.case_effects import Effects, email, parent, school
from domain.case_state import CaseState, Reopening, Review
from domain.command_registry import rule
from domain.command_rejection import invalid
from domain.email_models import EmailTemplate
from domain.recoupment_charges import settlement_lines
from domain.review_invites import cancel_meeting
from domain.stages import Action, Stage


def _key(state: CaseState, name: str) -> str:
    """An idempotency key unique to the event being recorded now."""
    return f"{len(state.timeline) + 1}:{name}"


def close(state: CaseState, outcome: c.CloseOutcome, on: date, reason: str | None, ctx: CaseContext, *,
          tell: bool = True) -> Effects:
    """Close the case as of `on`: settle recoupment up to the day before and (unless `tell` is False,
    as when the decision letter already says so) tell parent and school."""
    state.stage_before_close = state.stage
    state.stage = Stage.CLOSED
    state.close_outcome = outcome
    state.closed_on = on
    state.close_reason = reason
    state.closed_at = ctx.now
    effects = Effects()
    if tell:  # the review left in calendars will not take place
        effects.emails += cancel_meeting(state, state.next_review, ctx, _key(state, "review-cancel"),
                                         invites.CASE_CLOSED)
    effects.recoupment = settlement_lines(state, ctx, until=on - timedelta(days=1))
    if tell:
        effects.emails.append(email(state, _key(state, "closed"), EmailTemplate.CASE_CLOSED,
                                    [parent(state), school(state)], on=on))
    return effects


def closed_summary(state: CaseState) -> str:
    outcome = state.close_outcome.value if state.close_outcome else "closed"
    on = state.closed_on.isoformat() if state.closed_on else "?"
    return f"case closed: {outcome} on {on}"


# --- the actions that close ------------------------------------------------------------------------


def _check_full_time(state: CaseState, cmd: c.ConfirmFullTimeReturn, ctx: CaseContext) -> None:
    # A return is confirmed once it has happened: a future date would close the case, send the
    # parent a closure letter and settle recoupment for days that have not happened, and nobody would
    # notice a child who relapsed before the day. The plan's end date (and its reminder) carries the
    # planned day; the officer confirms on or after it.
    if state.reintegration is None:
        raise invalid(state, "agree the reintegration plan first (a return without a part-time timetable "
                             "is recorded by closing the case at a review: returned_full_time)")
    # A future returned_on is refused by the date rules (`domain.command_dates`: what has happened).


@rule(Action.CONFIRM_FULL_TIME_RETURN, _check_full_time)
def _full_time(state: CaseState, cmd: c.ConfirmFullTimeReturn, ctx: CaseContext) -> tuple[str, Effects]:
    state.returned_full_time_on = cmd.returned_on
    effects = close(state, c.CloseOutcome.RETURNED_FULL_TIME, cmd.returned_on, None, ctx=ctx)
    return f"full-time return from {cmd.returned_on.isoformat()}", effects


def _check_close(state: CaseState, cmd: c.CloseCase, ctx: CaseContext) -> None:
    if cmd.closed_on is not None and cmd.closed_on > ctx.today:
        raise invalid(state, "closed_on is in the future")


@rule(Action.CLOSE, _check_close)
def _close_case(state: CaseState, cmd: c.CloseCase, ctx: CaseContext) -> tuple[str, Effects]:
    effects = close(state, cmd.outcome, cmd.closed_on or ctx.today, cmd.reason, ctx=ctx)
    return f"case closed: {cmd.outcome.value}", effects


# --- reopening -------------------------------------------------------------------------------------


def _check_reopen(state: CaseState, cmd: c.ReopenCase, ctx: CaseContext) -> None:
    if Action.REOPEN.value not in offered_to(cmd.actor.role, [Action.REOPEN.value]):
        raise invalid(state, "only a supervisor may reopen a case", ctx=ctx)
    last = reopen_until(state, ctx)
    if last is None or ctx.today > last:
        window = ctx.clocks.reopen_within
        raise invalid(state, f"the case can be reopened only within {window} school days of its closure"
                      + (f" (until {last.isoformat()})" if last else ""), ctx=ctx)


@rule(Action.REOPEN, _check_reopen)
def _reopen(state: CaseState, cmd: c.ReopenCase, ctx: CaseContext) -> tuple[str, Effects]:
    closed_on, outcome = state.closed_on, state.close_outcome
    back_to = state.stage_before_close
    if closed_on is None or outcome is None or back_to is None:  # _check_reopen refuses this first
        raise invalid(state, "the case was not closed by this service's rules and cannot be reopened", ctx=ctx)
    state.reopenings.append(Reopening(at=ctx.now, actor=cmd.actor, reason=cmd.reason, closed_on=closed_on,
                                      close_outcome=outcome, stage_before_close=back_to))
    state.stage = back_to
    state.close_outcome = state.close_reason = state.closed_on = state.closed_at = None
    state.stage_before_close = None
    if outcome is c.CloseOutcome.RETURNED_FULL_TIME:
        state.returned_full_time_on = None
    if back_to in (Stage.IN_PROVISION, Stage.REINTEGRATING) and state.next_review is None:
        # Closed at a review: the reviews carry on from today.
        state.reviews.append(Review(id=f"review-{len(state.reviews) + 1}",
                                    due_on=ctx.after(ctx.today, ctx.clocks.review_interval_days)))
    mail = email(state, _key(state, "reopened"), EmailTemplate.CASE_REOPENED, [parent(state), school(state)],
                 on=ctx.today)
    return (f"case reopened by a supervisor: the closure ({outcome.value} on {closed_on.isoformat()}) was in "
            f"error; back to {back_to.value}"), Effects(emails=[mail])
