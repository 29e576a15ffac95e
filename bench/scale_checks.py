"""What bench/scale_out.py checks after each run, counted from the real things rather than taken
from the service's word: the workflows' results and histories (Temporal), the read model's rows
(PostgreSQL) and the messages the SMTP server received (bench/mail_sink.py).

- Completed: every case's workflow returned a result, and the read model shows the case closed.
- No email twice: no Message-ID delivered twice, no case given the same kind of email twice; every
  case got every kind the first cases got, except a message a SIGKILL cut off while the mail server
  was receiving it (activities/email.py leaves it `handing_over` and never sends it again: the case
  raises an `email_unconfirmed` alert for a person to check), which is counted apart.
- No ledger line twice: no school day charged twice (no two lines of one case and school whose
  dates overlap), and each case's lines add up to the recoupment total its workflow returned.
- Who did the work: the workflow tasks and activities each worker completed, from the identity
  ("<pid>@<host>", the SDK's default) Temporal records with each completion (the identity on a
  workflow task's *started* event is sometimes left empty when two workers poll), before and after
  a kill; and the work a kill interrupted (timed-out workflow tasks and activities, activities that
  needed a second attempt).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench.mail_sink import MailSink
from domain.case_state import CaseResult
from readmodel.database import make_engine, session_scope
from readmodel.tables import CaseRow, LedgerEntry, SentEmail


@dataclass
class WorkDone:
    workflow_tasks: int = 0
    activities: int = 0
    workflow_tasks_before_kill: int = 0
    activities_before_kill: int = 0


@dataclass
class Checks:
    cases: int
    completed: int = 0
    closed_in_read_model: int = 0
    emails: int = 0
    kinds: list[str] = field(default_factory=list)  # the kinds of email every case gets
    emails_twice: dict[str, int] = field(default_factory=dict)  # "<case> <kind>" or Message-ID -> deliveries
    emails_missing: list[str] = field(default_factory=list)  # "<case> <kind>" neither delivered nor unconfirmed
    emails_unconfirmed: list[str] = field(default_factory=list)  # cut off mid-hand-over by a kill
    ledger_lines: int = 0
    ledger_twice: int = 0  # lines overlapping an earlier line of the same case and school
    ledger_totals_wrong: list[str] = field(default_factory=list)
    work: dict[str, WorkDone] = field(default_factory=dict)  # worker name -> what it did
    unknown_identities: Counter[str] = field(default_factory=Counter)
    interrupted: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return (self.completed == self.closed_in_read_model == self.cases and not self.emails_twice
                and not self.emails_missing and self.ledger_twice == 0 and not self.ledger_totals_wrong
                and self.emails > 0 and self.ledger_lines > 0)

    def summary(self) -> str:
        return (f"{self.completed}/{self.cases} workflows completed, {self.closed_in_read_model} closed in the read "
                f"model; {self.emails} emails delivered ({len(self.kinds)} kinds a case), {len(self.emails_twice)} "
                f"twice, {len(self.emails_missing)} missing, {len(self.emails_unconfirmed)} unconfirmed; "
                f"{self.ledger_lines} ledger lines, {self.ledger_twice} twice, {len(self.ledger_totals_wrong)} "
                f"totals wrong: {'OK' if self.ok else 'FAILED'}")


async def check(client: Client, database_url: str, sink: MailSink, refs: list[str], first: list[str],
                workers: dict[str, str], kill_at: float | None) -> Checks:
    """Check the cases `refs` (`first`: cases finished before any kill, whose emails are the kinds
    every case gets); `workers`: identity prefix ("<pid>@") -> worker name; `kill_at`: epoch seconds."""
    out = Checks(cases=len(refs), work={name: WorkDone() for name in workers.values()})
    results: dict[str, CaseResult] = {}
    for ref in refs:
        results[ref] = await client.get_workflow_handle(ref, result_type=CaseResult).result()
        out.completed += 1
        await _count_work(client, ref, workers, kill_at, out)

    engine = make_engine(database_url)
    try:
        with session_scope(engine) as s:
            stages = dict(s.execute(select(CaseRow.case_ref, CaseRow.stage)).all())
            ledger = list(s.execute(select(LedgerEntry.case_ref, LedgerEntry.school_urn, LedgerEntry.from_date,
                                           LedgerEntry.to_date, LedgerEntry.amount)).all())
            handing_over = {(ref, template) for ref, template in s.execute(
                select(SentEmail.case_ref, SentEmail.template).where(SentEmail.status == "handing_over")).all()}
    finally:
        engine.dispose()
    out.closed_in_read_model = sum(stages.get(ref) == "closed" for ref in refs)

    delivered = sink.by_case_and_template()
    out.emails = len(sink)
    out.kinds = sorted({t for (ref, t) in delivered if ref in first})
    out.emails_twice = {f"{ref} {t}": n for (ref, t), n in delivered.items() if n > 1}
    out.emails_twice |= {mid: n for mid, n in sink.by_message_id().items() if n > 1}
    for ref in refs:
        for kind in out.kinds:
            if (ref, kind) in delivered:
                continue
            (out.emails_unconfirmed if (ref, kind) in handing_over else out.emails_missing).append(f"{ref} {kind}")

    out.ledger_lines = len(ledger)
    charged: Counter[str] = Counter()
    last_day: dict[tuple[str, str], date] = {}
    for ref, school, begins, ends, amount in sorted(ledger):
        charged[ref] += Decimal(amount)
        if (ref, school) in last_day and begins <= last_day[(ref, school)]:
            out.ledger_twice += 1
        last_day[(ref, school)] = max(ends, last_day.get((ref, school), ends))
    out.ledger_totals_wrong = [ref for ref in refs if charged[ref] != Decimal(results[ref].recoupment_total)]
    return out


async def _count_work(client: Client, ref: str, workers: dict[str, str], kill_at: float | None,
                      out: Checks) -> None:
    async for e in client.get_workflow_handle(ref).fetch_history_events():
        t = e.event_type
        if t == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            identity, kind = e.workflow_task_completed_event_attributes.identity, "workflow_tasks"
        elif t == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            identity, kind = e.activity_task_completed_event_attributes.identity, "activities"
        else:
            if t == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED and e.activity_task_started_event_attributes.attempt > 1:
                out.interrupted["activities retried"] += 1
            if t in (EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT, EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT):
                out.interrupted[EventType.Name(t).removeprefix("EVENT_TYPE_").lower()] += 1
            continue
        name = next((n for prefix, n in workers.items() if identity.startswith(prefix)), None)
        if name is None:
            out.unknown_identities[f"{kind} by {identity!r}"] += 1
            continue
        done = out.work.setdefault(name, WorkDone())
        setattr(done, kind, getattr(done, kind) + 1)
        if kill_at is not None and e.event_time.ToNanoseconds() / 1e9 < kill_at:
            setattr(done, f"{kind}_before_kill", getattr(done, f"{kind}_before_kill") + 1)
