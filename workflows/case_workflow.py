"""One child's medical-absence case, from the school's notification to closure, as one durable workflow.

The rules live in `domain/`; this class only sequences them:
- every command is a workflow update named by its `Action`; a validator refuses a command that does
  not fit the case before it enters history;
- the case sleeps until its earliest alarm (reminders, chasers, escalations, term-end charges), all
  derived from the state, so a moved deadline moves its timer;
- side effects (email, documents, ledger, read model) are activities;
- search attributes are kept current for supervisors; the case continues-as-new when history grows.
"""

import asyncio
import dataclasses
from collections.abc import Awaitable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.case_story import (
    RULES_SUMMARY,
    current_details,
    day,
    document_summary,
    email_summary,
    projection_summary,
    recoupment_summary,
    words,
)
from workflows.read_model_sync import ReadModelSync

with workflow.unsafe.imports_passed_through():
    # pydantic imports these lazily on the first EmailStr it validates; pass them through so the
    # sandbox does not re-import them inside a running workflow.
    import email_validator  # noqa: F401
    import idna  # noqa: F401
    from pydantic import ValidationError

    from domain import case_transitions as transitions
    from domain import search_attributes as sa
    from domain.absence_threshold import refresh_threshold
    from domain.case_actions import open_actions, reopen_until
    from domain.case_alarms import Alarm, fire, unfired_alarms
    from domain.case_change import CaseChange, ProjectionRequest, describe_change, list_items
    from domain.case_commands import OpenCase, ReadModelWriteFailed
    from domain.case_context import CaseContext
    from domain.case_effects import Effects, record_event
    from domain.case_rules import CaseRules, CaseRulesRequest
    from domain.case_state import CaseResult, CaseState, CaseView, SupervisorAlert
    from domain.command_rejection import CommandRejected
    from domain.document_models import StoredDocument
    from domain.email_models import EmailReceipt, EmailRequest
    from domain.ledger_models import PostingReceipt, RecoupmentPosting
    from domain.pending_tasks import pending_tasks
    from domain.school_calendar import SchoolCalendar, academic_year_of
    from domain.stages import Action, Stage
    from infra.logging import workflow_logger

_EMAIL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    non_retryable_error_types=["BadEmailData"],
)
_DATABASE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
_QUICK = timedelta(seconds=30)
# A read-model write is tried briefly inside a command; if the database is down the command still
# answers and the main loop keeps retrying until the projection catches up.
_PROJECTION_IN_COMMAND = timedelta(seconds=10)
# The main loop is not waiting (see `_asleep_until`).
_AWAKE = object()
# How far ahead the calendar must reach before it is reloaded with later school years.
_CALENDAR_MARGIN = timedelta(days=200)


@workflow.defn
class CaseWorkflow:
    @workflow.init
    def __init__(self, case: OpenCase) -> None:
        self._input = case.model_copy(update={"carried_state": None})
        if case.carried_state is not None:
            self.state = CaseState.model_validate(case.carried_state)
        else:
            now = workflow.now()
            self.state = CaseState(
                case_ref=case.case_ref,
                opened_at=now,
                school_urn=case.school_urn,
                child=case.child,
                parent=case.parent,
                reason=case.reason,
                health_summary=case.health_summary,
                first_day_of_absence=case.first_day_of_absence,
                expected_return=case.expected_return,
                absence_days=sorted(set(case.absence_days)),
                absence_half_days=sorted(set(case.absence_half_days) - set(case.absence_days)),
                last_progress_on=now.date(),
            )
            record_event(self.state, at=now, actor=case.actor, action="notified",
                         summary=f"absence notified by school {case.school_urn}")
        self._rules: CaseRules | None = None
        self._legacy_rules = True  # set when the run starts (see `run`)
        self._calendar: SchoolCalendar | None = None  # the council's
        self._school_calendars: dict[str, SchoolCalendar] = {}  # schools that set their own dates
        self._lock = asyncio.Lock()
        self._wake = False
        self._read_model = ReadModelSync()  # what the read model holds, and when to write it
        self._background: list[asyncio.Task] = []
        self._search_attributes: dict[str, object] = {}
        self._asleep_until: datetime | None | object = _AWAKE  # when the main loop's wait ends

    # --- the case's life ---------------------------------------------------------------------------

    @workflow.run
    async def run(self, case: OpenCase) -> CaseResult:
        # The clocks as they are now (late notifications overdue from the start, reviews due from
        # the day held, the threshold across 31 August, hospital referrals from the expected
        # discharge, ...); a run begun before this patch keeps the rules it started with.
        self._legacy_rules = not workflow.patched("case-rules-2026-12")
        await self._load_rules()
        if case.carried_state is None:
            async with self._lock:
                refresh_threshold(self.state, self._ctx())
        await self._publish()
        while True:
            await self._run_open_case()
            # A supervisor may reopen a case closed in error for a while: the case waits for that
            # before it ends. Earlier runs ended at once.
            if not workflow.patched("reopen-window-after-close") or not await self._reopened_in_window():
                break
        await self._drain()
        await self._publish(wait=True)
        return CaseResult(case_ref=self.state.case_ref, outcome=self.state.close_outcome,
                          closed_on=self.state.closed_on, recoupment_total=str(self._recouped()))

    async def _run_open_case(self) -> None:
        """Sleep until each alarm and fire it, until the case closes."""
        while self.state.stage is not Stage.CLOSED:
            if workflow.info().is_continue_as_new_suggested():
                await self._drain()
                self._log().info("continuing_as_new", history_length=workflow.info().get_current_history_length())
                carried = self.state.model_dump(mode="json")
                workflow.continue_as_new(self._input.model_copy(update={"carried_state": carried}))
            await self._sleep_until_next_alarm()
            async with self._lock:
                await self._fire_due_alarms()
                if self._calendar_running_out():
                    await self._load_rules()
            if self._read_model.due(workflow.now()):
                await self._publish()

    async def _reopened_in_window(self) -> bool:
        """Wait, the case closed, until a supervisor reopens it (True) or the window ends (False)."""
        last = reopen_until(self.state, self._ctx())
        if last is None:
            return False
        await self._drain()
        await self._publish(wait=True)  # lists show the closure while the window runs
        ends = datetime.combine(last + timedelta(days=1), time(0), tzinfo=UTC)
        try:
            await workflow.wait_condition(lambda: self.state.stage is not Stage.CLOSED,
                                          timeout=max(ends - workflow.now(), timedelta(0)),
                                          timeout_summary=f"reopening window until {last.isoformat()}")
        except TimeoutError:
            pass
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.state.stage is not Stage.CLOSED

    def _next_wait(self) -> tuple[timedelta | None, str]:
        """How long the main loop may sleep before it has work to do (None: until a command), and
        what it is waiting for."""
        alarms = unfired_alarms(self.state, self._ctx())
        timeout: timedelta | None = None
        summary = "waiting for the next command"
        if alarms:
            timeout = max(alarms[0].fires_at(self._ctx()) - workflow.now(), timedelta(0))
            summary = f"Until {day(alarms[0].fires_on)}: {words(alarms[0].kind)}"
        return self._read_model.wait(workflow.now(), timeout, summary)

    async def _sleep_until_next_alarm(self) -> None:
        timeout, summary = self._next_wait()
        if timeout == timedelta(0):
            return
        self._asleep_until = None if timeout is None else workflow.now() + timeout
        try:
            await workflow.wait_condition(
                lambda: self._wake or workflow.info().is_continue_as_new_suggested(),
                timeout=timeout,
                timeout_summary=summary,
            )
        except TimeoutError:
            pass
        finally:
            self._asleep_until = _AWAKE
        self._wake = False

    def _loop_wait_changed(self) -> bool:
        """Whether the main loop, if asleep, is waiting for something other than it should now."""
        if self._asleep_until is _AWAKE or self.state.stage is Stage.CLOSED:
            return True
        timeout, _ = self._next_wait()
        return (None if timeout is None else workflow.now() + timeout) != self._asleep_until

    async def _fire_due_alarms(self) -> None:
        """Fire every alarm that is due, one at a time: each may move the others."""
        for _ in range(100):
            ctx = self._ctx()
            due: list[Alarm] = [a for a in unfired_alarms(self.state, ctx) if a.fires_at(ctx) <= ctx.now]
            if not due or self.state.stage is Stage.CLOSED:
                return
            effects = fire(self.state, due[0], ctx)
            self._log().info("alarm_fired", alarm=due[0].kind)
            await self._carry_out(effects)
            self._read_model.mark_stale()

    async def _drain(self) -> None:
        """Let every update handler and background side effect finish before the run ends."""
        await workflow.wait_condition(workflow.all_handlers_finished)
        while self._background:
            pending, self._background = self._background, []
            await asyncio.gather(*pending, return_exceptions=True)
            # A command may have arrived meanwhile: let it finish too, or the run would end (continue
            # as new) under it.
            if workflow.patched("drain-commands-after-background"):
                await workflow.wait_condition(workflow.all_handlers_finished)

    # --- commands ----------------------------------------------------------------------------------

    @workflow.update(dynamic=True)
    async def command(self, name: str, args: Sequence[RawValue]) -> CaseView | CaseChange:
        """Check the command, apply it to the case, carry out its effects, and answer with the case
        (to the API: with what the command changed, see `_answer`)."""
        action, cmd = self._decode(name, args)
        await workflow.wait_condition(lambda: self._rules is not None)
        async with self._lock:
            base_version = self.state.version
            before = None  # the lists as the read model holds them (None: it may not)
            if getattr(cmd, "caller_writes_read_model", False) and not self._read_model.stale:
                before = list_items(self.state)
            ctx = self._ctx()
            if not workflow.patched("school-day-and-plan-rules"):
                ctx = dataclasses.replace(ctx, strict=False)  # a command this case accepted without them
            if not workflow.patched("letters-and-invites"):
                ctx = dataclasses.replace(ctx, letters=False)  # its letters and invites as they were then
            try:
                effects = transitions.apply(self.state, action, cmd, ctx)  # checks it first
            except CommandRejected as rejected:
                raise _rejection(rejected) from None
            self._log().info("command_applied", action=action.value, stage=self.state.stage.value)
            await self._carry_out(effects)
            if (self.state.school_urn not in self._rules.schools_asked
                    and workflow.patched("load-calendar-of-new-school")):
                await self._load_rules()  # a new school may keep its own term dates
            caller_writes = self._after_command(cmd)
        return await self._answer(caller_writes, before, base_version)

    def _after_command(self, cmd: object) -> bool:
        """Note who writes the command's answer to the read model, and wake the main loop if it has
        other work now. True when the command's caller (the API) writes it."""
        caller_writes = (
            self._read_model.projected
            and getattr(cmd, "caller_writes_read_model", False)
            and workflow.patched("caller-writes-read-model")
        )
        if caller_writes:
            self._read_model.caller_wrote(self.state.version, workflow.now())
            # Wake the main loop only if the command moved what it is waiting for (an alarm,
            # the read-model check, the case's end): a note need not restart its timer.
            self._wake = self._wake or self._loop_wait_changed()
        else:
            self._wake = True
        return caller_writes

    async def _answer(self, caller_writes: bool, before: dict | None, base_version: int) -> CaseView | CaseChange:
        """The case as the command left it; to a caller that writes the read model, only what the
        command changed (`CaseChange`: the case's fixed-size fields and each changed list from its
        first changed item), so what a command adds to history does not grow with the case's age.
        Earlier commands answered with the whole view."""
        if caller_writes or (self._read_model.projected and workflow.patched("project-after-answer")):
            # Answer now. Either the caller (the API) writes this answer to the read model in its own
            # transaction, so lists show the command as soon as it answers and the case checks the
            # read model a while later (once for a burst of commands, at once if the caller signals
            # that its write failed); or the main loop (woken by `_after_command`) writes it straight after.
            view = self.view()
            self._upsert_search_attributes(view)
            if not caller_writes:
                self._read_model.mark_stale()
            elif workflow.patched("bounded-command-answers"):
                return describe_change(before, base_version, view)
            return view
        # The case's first projection, by which a duplicate notification is recognised, is awaited.
        await self._publish()
        return self.view()

    @command.validator
    def _validate_command(self, name: str, args: Sequence[RawValue]) -> None:
        action, cmd = self._decode(name, args)
        try:
            transitions.check(self.state, action, cmd, self._ctx() if self._rules else None)
        except CommandRejected as rejected:
            raise _rejection(rejected) from None

    def _decode(self, name: str, args: Sequence[RawValue]) -> tuple[Action, object]:
        try:
            action = Action(name)
        except ValueError:
            raise ApplicationError(f"unknown action '{name}'", type="UnknownAction", non_retryable=True) from None
        if len(args) != 1:
            raise ApplicationError(f"'{name}' takes exactly one argument", type="InvalidCommand", non_retryable=True)
        model = transitions.COMMAND_TYPES[action]
        try:
            cmd = workflow.payload_converter().from_payload(args[0].payload, model)
        except (ValidationError, ValueError, TypeError) as exc:
            raise ApplicationError(_describe_invalid(exc), type="InvalidCommand", non_retryable=True) from None
        return action, cmd

    @workflow.signal
    def read_model_write_failed(self, failed: ReadModelWriteFailed) -> None:
        """The caller of a command could not write its answer to the read model: write it from here
        (retried until the database answers)."""
        self._log().info("read_model_write_failed_by_caller", version=failed.version)
        self._read_model.mark_stale()
        self._wake = True

    @workflow.query
    def view(self) -> CaseView:
        """The whole case now, with what it is waiting on."""
        tasks = pending_tasks(self.state, self._ctx()) if self._rules else []
        return CaseView(
            state=self.state,
            pending_tasks=tasks,
            allowed_actions=open_actions(self.state, self._ctx() if self._rules else None),
            next_deadline=min((t.due_on for t in tasks), default=None),
            overdue=any(t.overdue for t in tasks),
        )

    # --- side effects ------------------------------------------------------------------------------

    async def _carry_out(self, effects: Effects) -> None:
        for document in effects.documents:
            stored = await workflow.execute_activity(
                "store_generated_document", document, result_type=StoredDocument,
                start_to_close_timeout=_QUICK, retry_policy=_DATABASE_RETRY,
                summary=document_summary(document),
            )
            if self.state.reintegration is not None and document.kind == "reintegration_plan":
                self.state.reintegration.plan_document_ref = stored.doc_ref
        for mail in effects.emails:
            self._spawn(self._send(mail))
        if effects.recoupment:
            self.state.recoupment_lines += effects.recoupment
            posting = RecoupmentPosting(lines=effects.recoupment)
            self._spawn(workflow.execute_activity(
                "post_recoupment", posting, result_type=PostingReceipt,
                start_to_close_timeout=_QUICK, retry_policy=_DATABASE_RETRY,
                summary=recoupment_summary(effects.recoupment),
            ))

    def _spawn(self, work: Awaitable) -> None:
        self._background = [t for t in self._background if not t.done()]
        self._background.append(asyncio.ensure_future(work))

    async def _send(self, mail: EmailRequest) -> None:
        """Mail is retried until SMTP answers; mail that can never be sent, or that may or may not have
        arrived (never sent twice), is raised on the case for a person."""
        try:
            await workflow.execute_activity(
                "send_email", mail, result_type=EmailReceipt,
                start_to_close_timeout=_QUICK, retry_policy=_EMAIL_RETRY,
                summary=email_summary(mail),
            )
        except ActivityError as error:
            cause = error.cause if isinstance(error.cause, ApplicationError) else None
            if cause is not None and cause.type == "EmailDeliveryUnconfirmed":
                # A worker died while the mail server was receiving it: it was not sent again.
                kind, detail = "email_unconfirmed", f"{mail.template.value} may not have arrived: {cause.message}"
            else:
                kind = "email_failed"
                detail = f"{mail.template.value} could not be sent: {cause.message if cause else 'failed'}"
            self.state.alerts.append(SupervisorAlert(kind=kind, raised_on=workflow.now().date(), detail=detail))
            self._read_model.mark_stale()
            self._wake = True

    async def _publish(self, *, wait: bool = False) -> None:
        """Bring search attributes and the read model up to date with the state."""
        writing = self._read_model.writing()
        view = self.view()
        self._upsert_search_attributes(view)
        try:
            # The activity reads the case through the `view` query, so its input (what each projection
            # adds to history) stays the same size however old the case is; earlier runs sent the view.
            activity, arg = "project_case", view
            if workflow.patched("project-case-by-reference"):
                activity = "project_case_by_reference"
                arg = ProjectionRequest(case_ref=self.state.case_ref, version=view.state.version)
            await workflow.execute_activity(
                activity, arg,
                start_to_close_timeout=_QUICK,
                schedule_to_close_timeout=None if wait else _PROJECTION_IN_COMMAND,
                retry_policy=_DATABASE_RETRY,
                summary=projection_summary(view.state.version),
            )
            # If the state changed while this was written, the main loop writes it again.
            superseded = (self._read_model.changed_since(writing)
                          and workflow.patched("stay-stale-after-a-superseded-write"))
            self._read_model.written(view.state.version, superseded=superseded)
        except ActivityError:
            # A command's write failed: the main loop may be asleep until the next alarm (days away),
            # so wake it to keep retrying until the read model catches up.
            if not self._read_model.stale and workflow.patched("wake-loop-on-stale-projection"):
                self._wake = True
            self._read_model.mark_stale()

    def _upsert_search_attributes(self, view: CaseView) -> None:
        s = self.state
        today = workflow.now().date()
        running = sorted({p.kind.value for p in s.provisions
                          if p.start_date <= today and (p.end_date is None or today <= p.end_date)})
        wanted: dict[str, tuple] = {
            "stage": (sa.CASE_STAGE, s.stage.value),
            "school": (sa.SCHOOL_URN, s.school_urn),
            "officer": (sa.EDUCATION_OFFICER, s.officer),
            "deadline": (sa.NEXT_DEADLINE, _midday(view.next_deadline)),
            "overdue": (sa.OVERDUE, view.overdue),
            "stalled": (sa.STALLED, s.stalled),
            "progress": (sa.LAST_PROGRESS_AT, _midday(s.last_progress_on)),
            "kinds": (sa.PROVISION_KINDS, running),
        }
        updates: list[SearchAttributeUpdate] = []
        for name, (key, value) in wanted.items():
            if self._search_attributes.get(name, ...) == value:
                continue
            self._search_attributes[name] = value
            updates.append(key.value_unset() if value is None else key.value_set(value))
        if updates:
            workflow.upsert_search_attributes(updates)
        workflow.set_current_details(current_details(view, today))

    # --- rules -------------------------------------------------------------------------------------

    async def _load_rules(self) -> None:
        year = academic_year_of(max(workflow.now().date(), self.state.first_day_of_absence))
        first = min(academic_year_of(self.state.first_day_of_absence), year) - 1
        schools = sorted({self.state.school_urn, *(s.school_urn for s in self.state.school_spells)})
        self._rules = await workflow.execute_activity(
            "load_case_rules", CaseRulesRequest(first_year=first, last_year=year + 2, school_urns=schools),
            result_type=CaseRules, start_to_close_timeout=_QUICK, retry_policy=_DATABASE_RETRY,
            summary=RULES_SUMMARY,
        )
        self._calendar = SchoolCalendar(self._rules.calendar)
        self._school_calendars = {urn: SchoolCalendar(data) for urn, data in self._rules.school_calendars.items()}

    def _calendar_running_out(self) -> bool:
        return workflow.now().date() + _CALENDAR_MARGIN > self._rules.calendar.last_day()

    def _log(self):
        """Structured, silent during replay, bound to the case reference (never personal data)."""
        return workflow_logger(case_ref=self.state.case_ref)

    def _ctx(self) -> CaseContext:
        if self._rules is None or self._calendar is None:
            raise RuntimeError("case rules are not loaded yet")
        own = self._school_calendars.get(self.state.school_urn)
        return CaseContext(own or self._calendar, self._rules.clocks, self._rules.rates, workflow.now(),
                           legacy_rules=self._legacy_rules, calendars_by_school=self._school_calendars,
                           council_calendar=self._calendar)

    def _recouped(self) -> Decimal:
        return sum((line.amount for line in self.state.recoupment_lines), Decimal(0))


def _midday(day: date | None) -> datetime | None:
    """Date-valued search attributes are stored as datetimes at noon UTC."""
    return None if day is None else datetime.combine(day, time(12), tzinfo=UTC)


def _rejection(rejected: "CommandRejected") -> ApplicationError:
    details: dict[str, object] = {"stage": rejected.stage.value, "allowed_actions": rejected.allowed_actions}
    if rejected.field is not None:
        details["errors"] = [{"field": f"body.{rejected.field}", "message": str(rejected), "type": "invalid_for_case"}]
    return ApplicationError(
        str(rejected),
        details,
        type=rejected.kind,
        non_retryable=True,
    )


def _describe_invalid(exc: Exception) -> str:
    """Name the fields that are wrong without echoing what was sent (it may be personal data)."""
    if isinstance(exc, ValidationError):
        parts = [f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()]
        return "invalid command: " + "; ".join(parts)
    return "invalid command"

