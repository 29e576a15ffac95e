"""Tests for recoupment: daily rates, pro-rata charges per school, school changes and key stages."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.recoupment import (
    KeyStage,
    RecoupmentLine,
    RecoupmentRates,
    SchoolSpell,
    key_stage_on,
    recoupment_lines,
)
from domain.school_calendar import SchoolCalendar, load_calendar_data

CAL = SchoolCalendar(load_calendar_data(None, 2025, 2027))
RATES = RecoupmentRates()
AUTUMN_2026 = (date(2026, 9, 3), date(2026, 12, 18))  # 71 school days


def lines(
    spells: list[SchoolSpell], start: date, end: date, ks: KeyStage = KeyStage.KS3
) -> list[RecoupmentLine]:
    return recoupment_lines(
        case_ref="MN-2026-0042",
        spells=spells,
        provision_from=start,
        provision_to=end,
        key_stage=ks,
        rates=RATES,
        calendar=CAL,
        period="2026-27 autumn",
    )


# --- rates --------------------------------------------------------------------------------------


def test_daily_rates_to_the_penny() -> None:
    assert RATES.daily_rate(KeyStage.KS2) == Decimal("26.08")  # 4955 / 190 = 26.0789...
    assert RATES.daily_rate(KeyStage.KS3) == Decimal("36.76")  # 6985 / 190 = 36.7631...
    assert RATES.daily_rate(KeyStage.KS4) == Decimal("41.45")  # 7875 / 190 = 41.4473...
    assert RATES.daily_rate(KeyStage.RECEPTION) == RATES.daily_rate(KeyStage.KS1)


def test_daily_rate_rounds_half_up() -> None:
    rates = RecoupmentRates(annual_per_pupil={ks: Decimal("4.75") for ks in KeyStage})  # 0.025 a day
    assert rates.daily_rate(KeyStage.KS1) == Decimal("0.03")
    rates = RecoupmentRates(annual_per_pupil={ks: Decimal(9500) for ks in KeyStage}, school_days_per_year=195)
    assert rates.daily_rate(KeyStage.KS1) == Decimal("48.72")  # 48.7179...


def test_rates_must_price_every_key_stage() -> None:
    with pytest.raises(ValidationError, match="ks5"):
        RecoupmentRates(annual_per_pupil={ks: Decimal(1) for ks in KeyStage if ks != KeyStage.KS5})
    with pytest.raises(ValidationError):
        RecoupmentRates(school_days_per_year=0)


def test_rates_round_trip_as_json() -> None:
    again = RecoupmentRates.model_validate_json(RATES.model_dump_json())
    assert again == RATES
    assert again.annual_per_pupil[KeyStage.KS4] == Decimal("7875.00")


# --- charges ------------------------------------------------------------------------------------


def test_full_term_at_one_school() -> None:
    [line] = lines([SchoolSpell(school_urn="120001", from_date=date(2020, 9, 1))], *AUTUMN_2026)
    assert line.school_days == 71
    assert line.amount == Decimal("2609.96")  # 71 x 36.76
    assert (line.from_date, line.to_date) == AUTUMN_2026
    assert line.key_stage is KeyStage.KS3
    assert line.idempotency_key == "MN-2026-0042:120001:2026-27 autumn:2026-09-03:2026-12-18"


def test_part_term_pro_rata() -> None:
    # Mon 2 Nov - Fri 13 Nov 2026: 10 school days at KS4 41.45
    [line] = lines(
        [SchoolSpell(school_urn="120001", from_date=date(2020, 9, 1))],
        date(2026, 11, 2),
        date(2026, 11, 13),
        KeyStage.KS4,
    )
    assert (line.school_days, line.amount) == (10, Decimal("414.50"))
    # Fri 23 Oct (INSET) - Tue 3 Nov: only 2 and 3 Nov are school days
    [line] = lines(
        [SchoolSpell(school_urn="120001", from_date=date(2020, 9, 1))],
        date(2026, 10, 23),
        date(2026, 11, 3),
        KeyStage.KS2,
    )
    assert (line.school_days, line.amount) == (2, Decimal("52.16"))


def test_school_change_mid_term_splits_the_charge() -> None:
    spells = [
        SchoolSpell(school_urn="120001", from_date=date(2019, 9, 1), to_date=date(2026, 11, 13)),
        SchoolSpell(school_urn="138888", from_date=date(2026, 11, 16)),
    ]
    first, second = lines(spells, *AUTUMN_2026)
    assert (first.school_urn, first.from_date, first.to_date) == (
        "120001",
        date(2026, 9, 3),
        date(2026, 11, 13),
    )
    assert (first.school_days, first.amount) == (46, Decimal("1690.96"))
    assert (second.school_urn, second.from_date, second.to_date) == (
        "138888",
        date(2026, 11, 16),
        date(2026, 12, 18),
    )
    assert (second.school_days, second.amount) == (25, Decimal("919.00"))
    assert first.amount + second.amount == Decimal("2609.96")
    assert first.idempotency_key != second.idempotency_key


def test_zero_school_days_gives_no_line() -> None:
    spell = SchoolSpell(school_urn="120001", from_date=date(2020, 9, 1))
    assert lines([spell], date(2026, 10, 24), date(2026, 11, 1)) == []  # INSET weekend + half-term
    assert lines([spell], date(2026, 12, 19), date(2027, 1, 3)) == []  # Christmas holiday
    # the old school's spell ends before provision starts: only the new school is charged
    spells = [
        SchoolSpell(school_urn="120001", from_date=date(2019, 9, 1), to_date=date(2026, 10, 30)),
        SchoolSpell(school_urn="138888", from_date=date(2026, 10, 31)),
    ]
    [line] = lines(spells, date(2026, 10, 26), date(2026, 11, 6))
    assert (line.school_urn, line.school_days, line.amount) == ("138888", 5, Decimal("183.80"))


def test_child_off_roll_for_part_of_provision_is_not_charged() -> None:
    spells = [SchoolSpell(school_urn="120001", from_date=date(2019, 9, 1), to_date=date(2026, 11, 6))]
    [line] = lines(spells, date(2026, 11, 2), date(2026, 12, 18))
    assert (line.to_date, line.school_days, line.amount) == (date(2026, 11, 6), 5, Decimal("183.80"))


def test_bad_inputs() -> None:
    spell = SchoolSpell(school_urn="120001", from_date=date(2020, 9, 1))
    with pytest.raises(ValueError, match="before it starts"):
        lines([spell], date(2026, 11, 6), date(2026, 11, 2))
    overlapping = [
        SchoolSpell(school_urn="120001", from_date=date(2019, 9, 1), to_date=date(2026, 11, 13)),
        SchoolSpell(school_urn="138888", from_date=date(2026, 11, 13)),
    ]
    with pytest.raises(ValueError, match="overlap"):
        lines(overlapping, *AUTUMN_2026)
    with pytest.raises(ValidationError):
        SchoolSpell(school_urn="120001", from_date=date(2026, 11, 13), to_date=date(2026, 11, 12))
    with pytest.raises(ValueError, match="calendar does not cover"):
        lines([spell], date(2026, 9, 3), date(2028, 9, 30))


def test_line_round_trips_as_json_with_exact_money() -> None:
    [line] = lines([SchoolSpell(school_urn="120001", from_date=date(2020, 9, 1))], *AUTUMN_2026)
    again = RecoupmentLine.model_validate_json(line.model_dump_json())
    assert again == line
    assert again.amount == Decimal("2609.96")
    assert isinstance(again.amount, Decimal)


@settings(max_examples=200, deadline=None)
@given(
    split=st.dates(min_value=date(2026, 9, 4), max_value=date(2026, 12, 18)),
    ks=st.sampled_from(list(KeyStage)),
)
def test_any_school_change_keeps_the_total(split: date, ks: KeyStage) -> None:
    whole = lines([SchoolSpell(school_urn="A", from_date=date(2019, 9, 1))], *AUTUMN_2026, ks)
    parts = lines(
        [
            SchoolSpell(school_urn="A", from_date=date(2019, 9, 1), to_date=split - timedelta(days=1)),
            SchoolSpell(school_urn="B", from_date=split),
        ],
        *AUTUMN_2026,
        ks,
    )
    assert sum(p.school_days for p in parts) == whole[0].school_days == 71
    assert sum((p.amount for p in parts), Decimal(0)) == whole[0].amount
    assert all(p.school_days > 0 and p.amount == p.amount.quantize(Decimal("0.01")) for p in parts)


# --- key stages ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("born", "expected"),
    [
        (date(2022, 8, 31), KeyStage.RECEPTION),  # 4 on 31 Aug 2026
        (date(2021, 9, 1), KeyStage.RECEPTION),  # still 4 on 31 Aug 2026: youngest in reception
        (date(2021, 8, 31), KeyStage.KS1),  # 5 on 31 Aug 2026
        (date(2019, 9, 1), KeyStage.KS1),  # 6
        (date(2019, 8, 31), KeyStage.KS2),  # 7
        (date(2015, 9, 1), KeyStage.KS2),  # 10: year 6
        (date(2015, 8, 31), KeyStage.KS3),  # 11: year 7
        (date(2012, 9, 1), KeyStage.KS3),  # 13: year 9
        (date(2012, 8, 31), KeyStage.KS4),  # 14: year 10
        (date(2010, 9, 1), KeyStage.KS4),  # 15: year 11
        (date(2010, 8, 31), KeyStage.KS5),  # 16
    ],
)
def test_key_stage_in_2026_27(born: date, expected: KeyStage) -> None:
    assert key_stage_on(born, date(2026, 11, 1)) is expected
    assert key_stage_on(born, date(2027, 8, 31)) is expected  # same academic year


def test_key_stage_changes_on_1_september_not_birthday() -> None:
    born = date(2019, 3, 15)
    assert key_stage_on(born, date(2026, 3, 20)) is KeyStage.KS1  # turned 7 in March, still year 2
    assert key_stage_on(born, date(2026, 8, 31)) is KeyStage.KS1
    assert key_stage_on(born, date(2026, 9, 1)) is KeyStage.KS2
    assert key_stage_on(date(2020, 2, 29), date(2026, 9, 1)) is KeyStage.KS1  # leap-day birthday: 6


def test_too_young_for_school() -> None:
    with pytest.raises(ValueError, match="below reception age"):
        key_stage_on(date(2022, 9, 1), date(2026, 11, 1))
