"""The reports: caseload by stage, overdue and stalled cases, days to provision in school days,
and recoupment by school and term to the penny."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import insert

from domain.school_calendar import SchoolCalendar, load_calendar_data
from domain.stages import Stage
from readmodel import case_queries as q
from readmodel.database import session_scope
from readmodel.tables import LedgerEntry
from tests.read_model.read_model_support import NOW, _write
from tests.readmodel_fixtures import make_view


def test_caseload_and_attention_reports(seeded):
    with session_scope(seeded) as session:
        caseload = {r.stage: r.cases for r in q.caseload_by_stage(session)}
        assert list(caseload) == [s.value for s in Stage]
        assert caseload == {
            "notified": 1,
            "awaiting_consent": 0,
            "gathering_evidence": 1,
            "deciding": 2,
            "commissioning": 0,
            "in_provision": 2,
            "reintegrating": 0,
            "closed": 1,
        }
        report = q.overdue_and_stalled(session)
        assert (report.overdue, report.stalled, report.both) == (2, 2, 1)
        assert [c.case_ref for c in report.cases] == ["MN-25-000002", "MN-25-000003", "MN-25-000004"]


@pytest.fixture(scope="module")
def calendar() -> SchoolCalendar:
    return SchoolCalendar(load_calendar_data(None, 2025, 2026))


def test_days_to_provision_report(engine, keyring, calendar):
    threshold = date(2025, 11, 21)  # a Friday in term
    late_by = [0, 3, 5, 10, 2]  # school days after the threshold
    starts = [calendar.add_school_days(threshold, n) if n else threshold for n in late_by]
    starts.append(date(2025, 11, 17))  # started before the threshold: 0 late
    for i, started in enumerate(starts):
        _write(
            engine,
            make_view(f"MN-25-P0000{i}", threshold_date=threshold, provision_started_on=started),
            keyring,
        )
    # Waiting for provision past the threshold, and not yet at it: not measured.
    _write(engine, make_view("MN-25-W00001", threshold_date=date(2025, 11, 14)), keyring)
    _write(engine, make_view("MN-25-W00002", threshold_date=date(2026, 1, 9)), keyring)
    with session_scope(engine) as session:
        report = q.days_to_provision(session, lambda _urn: calendar, today=date(2025, 12, 1))
        assert sorted(late_by + [0]) == [0, 0, 2, 3, 5, 10]
        assert report.cases == 6
        assert report.median_days == 2.5
        assert report.p90_days == 10
        assert report.expected_days == 0
        # The case waiting past its threshold is late too.
        assert report.on_time == 2 and report.on_time_share == pytest.approx(2 / 7)
        assert report.waiting == 1 and report.unmeasurable == 0
        assert q.days_to_provision(session, lambda _urn: calendar).waiting == 2
    # Across the Christmas holiday: 19 Dec 2025 (last day of term) -> 6 Jan 2026 is 2 school days.
    assert calendar.school_days_between(date(2025, 12, 19), date(2026, 1, 6)) == 2


def test_days_to_provision_counts_late_notifications_and_waiting_cases_late(engine, keyring, calendar):
    """A case notified after its 15-day point is late from the start: while it waits it lowers the
    on-time share, and the report says how many were notified late."""
    threshold = date(2025, 11, 21)
    _write(engine, make_view("MN-25-L00001", threshold_date=threshold, provision_started_on=threshold), keyring)
    late = datetime(2025, 12, 1, 9, tzinfo=UTC)  # notified after its threshold
    _write(engine, make_view("MN-25-L00002", threshold_date=threshold, opened_at=late), keyring)
    with session_scope(engine) as session:
        report = q.days_to_provision(session, lambda _urn: calendar, today=date(2025, 12, 2))
    assert (report.cases, report.on_time, report.waiting) == (1, 1, 1)
    assert report.on_time_share == pytest.approx(1 / 2)
    assert report.notified_late == 1


def test_days_to_provision_counts_each_case_on_its_schools_calendar(engine, keyring, calendar, tmp_path):
    """A school that keeps its own term dates is measured on them: the same dates give different
    school days at a school whose half-term falls between them."""
    own = SchoolCalendar(load_calendar_data(None, 2025, 2026, school_file=_toml(tmp_path, OWN_HALF_TERM)))
    threshold, started = date(2025, 10, 24), date(2025, 11, 3)  # the council's half-term lies between
    _write(engine, make_view("MN-25-S00001", school_urn="120009", threshold_date=threshold,
                             provision_started_on=started), keyring)
    with session_scope(engine) as session:
        on_own = q.days_to_provision(session, lambda urn: own if urn == "120009" else calendar)
        on_council = q.days_to_provision(session, lambda _urn: calendar)
    assert on_own.median_days == own.school_days_between(threshold, started)
    assert on_council.median_days == calendar.school_days_between(threshold, started)
    assert on_own.median_days == on_council.median_days + 5  # the council's half-term week is term there


OWN_HALF_TERM = """
council = "Test academy trust"

[[term]]
name = "2025-26 autumn"
start = 2025-09-03
end = 2025-12-19
half_term = [2025-11-10, 2025-11-14]
"""


def _toml(folder, text: str):
    path = folder / "own-terms.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_days_to_provision_with_no_cases(engine, calendar):
    with session_scope(engine) as session:
        report = q.days_to_provision(session, lambda _urn: calendar)
    assert (report.cases, report.median_days, report.p90_days, report.on_time_share) == (0, None, None, None)


def test_recoupment_by_school_and_term_is_exact(engine):
    entries = [
        # urn, period, from, amount
        ("120001", "2025-26 autumn", date(2025, 11, 24), "0.10"),
        ("120001", "2025-26 autumn", date(2025, 11, 24), "0.20"),
        ("120001", "2025-26 autumn", date(2025, 12, 1), "1234567.89"),
        ("120001", "2025-26 spring", date(2026, 1, 5), "36.76"),
        ("120002", "2025-26 autumn", date(2025, 11, 3), "41.45"),
        ("120002", "settlement", date(2026, 2, 2), "0.05"),
    ]
    with session_scope(engine) as session:
        for i, (urn, period, start, amount) in enumerate(entries):
            session.execute(
                insert(LedgerEntry).values(
                    idempotency_key=f"k{i}",
                    case_ref=f"MN-25-R0000{i}",
                    school_urn=urn,
                    period=period,
                    from_date=start,
                    to_date=start + timedelta(days=4),
                    school_days=5,
                    key_stage="ks3",
                    amount=Decimal(amount),
                    posted_at=NOW,
                )
            )
    with session_scope(engine) as session:
        report = q.recoupment_by_school_and_term(session)
    assert [(r.school_urn, r.period, r.amount, r.lines) for r in report] == [
        ("120001", "2025-26 autumn", Decimal("1234568.19"), 3),
        ("120001", "2025-26 spring", Decimal("36.76"), 1),
        ("120002", "2025-26 autumn", Decimal("41.45"), 1),
        ("120002", "settlement", Decimal("0.05"), 1),
    ]
    assert str(report[0].amount) == "1234568.19" and str(report[1].amount) == "36.76"
