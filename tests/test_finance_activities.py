"""Posting recoupment to the ledger: once per line, exact amounts, safe under retries and concurrent
workers; on SQLite and PostgreSQL (conftest.py's `database_url`)."""

import threading
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.finance import FinanceActivities
from domain.ledger_models import PostingReceipt, RecoupmentPosting
from domain.recoupment import KeyStage, RecoupmentLine, RecoupmentRates
from readmodel import case_queries as q
from readmodel.database import ReadModelUnavailable, get_engine, session_scope
from readmodel.migrate import upgrade
from readmodel.tables import LedgerEntry
from tests.readmodel_fixtures import key_spec, settings  # noqa: F401 - fixtures

RATES = RecoupmentRates()
KS3_DAILY = RATES.daily_rate(KeyStage.KS3)  # 6985.00 / 190 = 36.763... -> 36.76


def line(
    case_ref: str = "MN-25-7K3Q9P",
    *,
    urn: str = "120001",
    period: str = "2025-26 autumn",
    start: date = date(2025, 11, 24),
    end: date = date(2025, 12, 19),
    days: int = 19,
    amount: Decimal | None = None,
) -> RecoupmentLine:
    return RecoupmentLine(
        case_ref=case_ref,
        school_urn=urn,
        period=period,
        from_date=start,
        to_date=end,
        school_days=days,
        key_stage=KeyStage.KS3,
        amount=KS3_DAILY * days if amount is None else amount,
    )


LINES = [
    line(),
    line(urn="120002", period="2025-26 spring", start=date(2026, 1, 5), end=date(2026, 1, 30), days=20),
    line("MN-25-ABCDEF", days=7, end=date(2025, 12, 2)),
]


@pytest.fixture
def finance(settings) -> FinanceActivities:
    upgrade(settings.database_url)
    return FinanceActivities(settings)


def _ledger(settings) -> list[LedgerEntry]:
    with session_scope(get_engine(settings.database_url)) as session:
        return list(session.scalars(select(LedgerEntry).order_by(LedgerEntry.idempotency_key)))


def test_posting_twice_posts_once(finance, settings):
    env = ActivityEnvironment()
    first = env.run(finance.post_recoupment, RecoupmentPosting(lines=LINES))
    again = env.run(finance.post_recoupment, RecoupmentPosting(lines=LINES))
    assert first == PostingReceipt(posted=3, already_posted=0)
    assert again == PostingReceipt(posted=0, already_posted=3)
    ledger = _ledger(settings)
    assert sorted(e.idempotency_key for e in ledger) == sorted(ln.idempotency_key for ln in LINES)
    # A later posting that overlaps an earlier one posts only what is new.
    extra = line(period="settlement", start=date(2026, 2, 2), end=date(2026, 2, 6), days=5)
    receipt = env.run(finance.post_recoupment, RecoupmentPosting(lines=[LINES[0], extra]))
    assert receipt == PostingReceipt(posted=1, already_posted=1)
    assert len(_ledger(settings)) == 4


def test_amounts_are_exact(finance, settings):
    ActivityEnvironment().run(finance.post_recoupment, RecoupmentPosting(lines=LINES))
    by_key = {e.idempotency_key: e for e in _ledger(settings)}
    assert KS3_DAILY == Decimal("36.76")
    for ln in LINES:
        stored = by_key[ln.idempotency_key]
        assert Decimal(stored.amount) == ln.amount
        assert str(Decimal(stored.amount).quantize(Decimal("0.01"))) == str(ln.amount)
        assert (stored.school_urn, stored.period, stored.school_days, stored.key_stage) == (
            ln.school_urn,
            ln.period,
            ln.school_days,
            "ks3",
        )
        assert (stored.from_date, stored.to_date) == (ln.from_date, ln.to_date)
    assert [e.amount for e in _ledger(settings)] == [by_key[k].amount for k in sorted(by_key)]
    with session_scope(get_engine(settings.database_url)) as session:
        report = q.recoupment_by_school_and_term(session)
    assert [(r.school_urn, r.period, r.amount, r.lines) for r in report] == [
        ("120001", "2025-26 autumn", Decimal("698.44") + Decimal("257.32"), 2),  # 19 and 7 days at 36.76
        ("120002", "2025-26 spring", Decimal("735.20"), 1),
    ]


def test_many_small_amounts_sum_exactly(finance, settings):
    tenths = [
        line(f"MN-25-T{n:05d}", amount=Decimal("0.10"), days=1, end=date(2025, 11, 24)) for n in range(30)
    ]
    receipt = ActivityEnvironment().run(finance.post_recoupment, RecoupmentPosting(lines=tenths))
    assert receipt.posted == 30
    with session_scope(get_engine(settings.database_url)) as session:
        (total,) = q.recoupment_by_school_and_term(session)
    assert total.amount == Decimal("3.00") and str(total.amount) == "3.00"


def test_same_key_with_a_different_charge_is_refused(finance, settings):
    env = ActivityEnvironment()
    env.run(finance.post_recoupment, RecoupmentPosting(lines=[LINES[0]]))
    changed = line(amount=LINES[0].amount + Decimal("0.01"))
    assert changed.idempotency_key == LINES[0].idempotency_key
    with pytest.raises(ApplicationError) as info:
        env.run(finance.post_recoupment, RecoupmentPosting(lines=[LINES[1], changed]))
    assert info.value.non_retryable is True and changed.idempotency_key in info.value.message
    assert len(_ledger(settings)) == 1  # nothing of the refused posting was written


def test_fractions_of_a_penny_are_refused(finance, settings):
    with pytest.raises(ApplicationError) as info:
        ActivityEnvironment().run(
            finance.post_recoupment, RecoupmentPosting(lines=[line(amount=Decimal("36.765"))])
        )
    assert info.value.non_retryable is True
    assert _ledger(settings) == []


def test_two_workers_posting_the_same_lines_at_once(finance, settings):
    lines = [line(f"MN-25-C{n:05d}", days=n + 1, end=date(2025, 12, 19)) for n in range(40)]
    workers = 4
    receipts: list[PostingReceipt] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(workers)

    def work(reverse: bool) -> None:
        try:
            barrier.wait()
            batch = list(reversed(lines)) if reverse else lines
            receipts.append(
                ActivityEnvironment().run(finance.post_recoupment, RecoupmentPosting(lines=batch))
            )
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i % 2 == 1,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(r.posted for r in receipts) == len(lines)
    assert sum(r.already_posted for r in receipts) == len(lines) * (workers - 1)
    ledger = _ledger(settings)
    assert len(ledger) == len(lines)
    assert sum(Decimal(e.amount) for e in ledger) == sum(ln.amount for ln in lines)


def test_unreachable_ledger_is_retried(settings):
    finance = FinanceActivities(
        settings.model_copy(update={"database_url": "postgresql+psycopg://postgres@127.0.0.1:1/test"})
    )
    with pytest.raises(ReadModelUnavailable):  # not an ApplicationError: Temporal retries it
        ActivityEnvironment().run(finance.post_recoupment, RecoupmentPosting(lines=LINES))
