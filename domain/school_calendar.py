"""The school-day calendar: which dates count as school days for the statutory clocks and recoupment.

A school day is a weekday inside a term that is not a half-term day, INSET day or other local closure,
and not an England bank holiday. Term dates are local data, published by the council per academic year
(1 September to 31 August) in a TOML file; years missing from the file get default English terms.

Everything here is pure and deterministic (safe inside a Temporal workflow) except `load_calendar_data`,
which reads the term-dates file and must run outside workflows (in an activity or at start-up).
"""

import threading
import tomllib
import weakref
from bisect import bisect_left, bisect_right
from datetime import date, datetime, timedelta
from itertools import pairwise
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_TERMS_FILE = Path(__file__).parent.parent / "data" / "school_terms.toml"
"""The term-dates file shipped with the service (Leicestershire-style dates)."""

_ONE_DAY = timedelta(days=1)


def academic_year_of(d: date) -> int:
    """The academic year a date belongs to, named by the year it starts: 2026 for 1 Sep 2026 - 31 Aug 2027."""
    return d.year if d.month >= 9 else d.year - 1


def academic_year_label(year: int) -> str:
    """How people write an academic year: 2026 -> "2026-27"."""
    return f"{year}-{(year + 1) % 100:02d}"


class Term(BaseModel):
    """One school term, e.g. "2026-27 autumn": from its first school day to its last day, both inclusive."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1, examples=["2026-27 autumn"])
    start: date
    end: date

    @model_validator(mode="after")
    def _start_not_after_end(self) -> "Term":
        if self.end < self.start:
            raise ValueError(f"term {self.name!r} ends ({self.end}) before it starts ({self.start})")
        return self


class CalendarData(BaseModel):
    """A serialisable snapshot of the term dates, closures and bank holidays for some academic years.

    It covers whole academic years: from 1 September of the first term's academic year to 31 August
    after the last term. Travels through Temporal as JSON; build a `SchoolCalendar` from it to ask questions.
    """

    model_config = ConfigDict(frozen=True)

    terms: list[Term] = Field(min_length=1)
    closures: list[date] = Field(default_factory=list, description="Half-terms, INSET days, local holidays")
    bank_holidays: list[date] = Field(default_factory=list, description="England bank holidays")

    @field_validator("terms")
    @classmethod
    def _terms_sorted_and_apart(cls, terms: list[Term]) -> list[Term]:
        terms = sorted(terms, key=lambda t: t.start)
        for before, after in pairwise(terms):
            if after.start <= before.end:
                raise ValueError(f"terms {before.name!r} and {after.name!r} overlap")
        return terms

    @field_validator("closures", "bank_holidays")
    @classmethod
    def _dates_sorted(cls, days: list[date]) -> list[date]:
        return sorted(set(days))

    def first_day(self) -> date:
        """The first date the calendar can answer for: 1 September of the first academic year."""
        return date(academic_year_of(self.terms[0].start), 9, 1)

    def last_day(self) -> date:
        """The last date the calendar can answer for: 31 August at the end of the last academic year."""
        return date(academic_year_of(self.terms[-1].end) + 1, 8, 31)


def _content_key(data: CalendarData) -> tuple:
    """What makes two calendars the same calendar: their terms, closures and bank holidays."""
    return (tuple((t.name, t.start, t.end) for t in data.terms), tuple(data.closures), tuple(data.bank_holidays))


# Equal calendars are held once per process, however many cases use them: a worker keeps about a
# thousand cases in memory, nearly all on the council's calendar or one of a few schools'. Entries
# go when no case holds them any more. Sharing is safe inside workflows: the objects are never
# changed, and equal content always gives an equal object, so no case can tell it shares one.
_SHARED_DATA: "weakref.WeakValueDictionary[tuple, CalendarData]" = weakref.WeakValueDictionary()
_SHARED_DAYS: "weakref.WeakValueDictionary[tuple, _SchoolDays]" = weakref.WeakValueDictionary()
_SHARING = threading.Lock()  # workflows and activities run on several threads


def shared_calendar_data(data: CalendarData) -> CalendarData:
    """The one `CalendarData` of this content held in the process (`data` itself the first time)."""
    key = _content_key(data)
    with _SHARING:
        return _SHARED_DATA.setdefault(key, data)


class _SchoolDays:
    """The school days of one calendar, built once and shared by every `SchoolCalendar` of equal content:
    in order (for counting and stepping) and as one byte per covered date (1: a school day)."""

    __slots__ = ("days", "open", "first_ordinal", "term_starts", "__weakref__")

    def __init__(self, data: CalendarData) -> None:
        closed = set(data.closures) | set(data.bank_holidays)
        days: list[date] = []
        for term in data.terms:
            d = term.start
            while d <= term.end:
                if d.weekday() < 5 and d not in closed:
                    days.append(d)
                d += _ONE_DAY
        self.days: tuple[date, ...] = tuple(days)
        self.first_ordinal = data.first_day().toordinal()
        open_ = bytearray(data.last_day().toordinal() - self.first_ordinal + 1)
        for d in days:
            open_[d.toordinal() - self.first_ordinal] = 1
        self.open = bytes(open_)
        self.term_starts: tuple[date, ...] = tuple(t.start for t in data.terms)

    @staticmethod
    def of(data: CalendarData) -> "_SchoolDays":
        key = _content_key(data)
        with _SHARING:
            found = _SHARED_DAYS.get(key)
        if found is None:
            built = _SchoolDays(data)
            with _SHARING:
                found = _SHARED_DAYS.setdefault(key, built)
        return found


class SchoolCalendar:
    """Answers school-day questions (is it a school day, the n-th school day after, days between) quickly.

    Every date passed in must lie inside the covered span (`CalendarData.first_day()`..`last_day()`),
    otherwise a ValueError "calendar does not cover <date>" is raised; nothing searches without bound.
    Calendars of equal content share their term dates and school days (see `shared_calendar_data`).
    """

    def __init__(self, data: CalendarData) -> None:
        self.data = shared_calendar_data(data)
        self._first = data.first_day()
        self._last = data.last_day()
        self._school_days = _SchoolDays.of(data)
        self._days = self._school_days.days
        self._open = self._school_days.open
        self._first_ordinal = self._school_days.first_ordinal
        self._term_starts = self._school_days.term_starts

    @property
    def school_days(self) -> tuple[date, ...]:
        """Every school day the calendar knows, in order."""
        return self._days

    def _check(self, d: date) -> None:
        if not self._first <= d <= self._last:
            raise ValueError(f"calendar does not cover {d} (it covers {self._first} to {self._last})")

    def is_school_day(self, d: date) -> bool:
        """Whether pupils attend on this date: a weekday in term, not a closure, not a bank holiday."""
        self._check(d)
        return self._open[d.toordinal() - self._first_ordinal] == 1

    def next_school_day(self, d: date) -> date:
        """The first school day on or after the date."""
        self._check(d)
        i = bisect_left(self._days, d)
        if i >= len(self._days):
            raise ValueError(f"calendar does not cover {d}: no school day on or after it up to {self._last}")
        return self._days[i]

    def add_school_days(self, d: date, n: int) -> date:
        """The n-th school day strictly after the date (n >= 1); n == 0: next school day on or after it."""
        if n < 0:
            raise ValueError(f"cannot add a negative number of school days ({n})")
        if n == 0:
            return self.next_school_day(d)
        self._check(d)
        i = bisect_right(self._days, d) + n - 1
        if i >= len(self._days):
            raise ValueError(
                f"calendar does not cover {n} school days after {d}: it has school days only up to "
                f"{self._days[-1] if self._days else self._last}"
            )
        return self._days[i]

    def school_days_between(self, start: date, end: date) -> int:
        """How many school days fall after `start` up to and including `end`; 0 if end is not after start.

        `start` itself is not counted, so it may be the day before the covered span.
        """
        if start != self._first - _ONE_DAY:
            self._check(start)
        self._check(end)
        if end <= start:
            return 0
        return bisect_right(self._days, end) - bisect_right(self._days, start)

    def school_days_in(self, start: date, end: date) -> list[date]:
        """The school days from `start` to `end`, both inclusive, in order (empty if end is before start)."""
        self._check(start)
        self._check(end)
        if end < start:
            return []
        return list(self._days[bisect_left(self._days, start) : bisect_right(self._days, end)])

    def academic_year_of(self, d: date) -> int:
        """The academic year a date belongs to: 2026 for 1 Sep 2026 - 31 Aug 2027."""
        return academic_year_of(d)

    def term_of(self, d: date) -> Term | None:
        """The term running on this date (first to last day inclusive), or None in the holidays."""
        self._check(d)
        i = bisect_right(self._term_starts, d) - 1
        if i >= 0 and d <= self.data.terms[i].end:
            return self.data.terms[i]
        return None

    def terms_overlapping(self, start: date, end: date) -> list[Term]:
        """The terms that share at least one day with `start`..`end` (inclusive), in order."""
        self._check(start)
        self._check(end)
        return [t for t in self.data.terms if t.start <= end and start <= t.end]


# ---------------------------------------------------------------------------------------------------
# Loading term dates (the only I/O in this module)
# ---------------------------------------------------------------------------------------------------


def _easter_sunday(year: int) -> date:
    """Easter Sunday (Western), by the anonymous Gregorian computus (Meeus/Jones/Butcher)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month, day = divmod(h + el - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _monday_of(d: date) -> date:
    return d - timedelta(days=d.weekday())


def _week(monday: date) -> list[date]:
    return [monday + timedelta(days=k) for k in range(5)]


def _on_or_after_open(d: date, bank_holidays: set[date]) -> date:
    while d.weekday() >= 5 or d in bank_holidays:
        d += _ONE_DAY
    return d


def _on_or_before_open(d: date, bank_holidays: set[date]) -> date:
    while d.weekday() >= 5 or d in bank_holidays:
        d -= _ONE_DAY
    return d


def default_terms(year: int, bank_holidays: set[date]) -> tuple[list[Term], list[date]]:
    """Typical English term dates for an academic year the council's file does not list.

    The rule (gives about 190 school days a year):
    - autumn: first weekday on or after 3 September to the last weekday on or before 20 December,
      half-term the last full Monday-Friday week of October;
    - spring: first working weekday on or after 4 January to Maundy Thursday (Easter Sunday - 3 days),
      half-term the Monday-Friday week starting on the first Monday on or after 12 February;
    - summer: the Monday a fortnight after Easter Monday (Easter Sunday + 15 days) to the last weekday
      on or before 21 July, half-term the week of the late-May (spring) bank holiday.
    No INSET days are assumed. Returns the terms and their closure days.
    """
    label = academic_year_label(year)
    easter = _easter_sunday(year + 1)
    autumn = Term(
        name=f"{label} autumn",
        start=_on_or_after_open(date(year, 9, 3), bank_holidays),
        end=_on_or_before_open(date(year, 12, 20), bank_holidays),
    )
    october_half = _week(_monday_of(date(year, 10, 27)))
    feb_12 = date(year + 1, 2, 12)
    feb_half = _week(feb_12 + timedelta(days=(7 - feb_12.weekday()) % 7))
    spring = Term(
        name=f"{label} spring",
        start=_on_or_after_open(date(year + 1, 1, 4), bank_holidays),
        end=_on_or_before_open(easter - timedelta(days=3), bank_holidays),
    )
    may_31 = date(year + 1, 5, 31)
    may_half = _week(_monday_of(may_31))
    summer = Term(
        name=f"{label} summer",
        start=_on_or_after_open(easter + timedelta(days=15), bank_holidays),
        end=_on_or_before_open(date(year + 1, 7, 21), bank_holidays),
    )
    return [autumn, spring, summer], october_half + feb_half + may_half


def england_bank_holidays(first_calendar_year: int, last_calendar_year: int) -> list[date]:
    """England's bank holidays (including substitute days and one-off holidays) in the given years."""
    import holidays

    found = holidays.country_holidays(
        "GB", subdiv="ENG", years=range(first_calendar_year, last_calendar_year + 1)
    )
    return sorted(found.keys())


_TERM_KEYS = {"name", "start", "end", "half_term", "inset_days", "closures"}
_TOP_KEYS = {"council", "term"}


class _FileError(Exception):
    """A problem found in a term-dates file; the loader adds the file's name."""


def _file_date(value: object, where: str) -> date:
    if isinstance(value, datetime):
        raise _FileError(f"{where} must be a date without a time, got {value}")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise _FileError(f"{where} must be a date like 2026-09-03, got {value!r}")


def _file_dates(value: object, where: str) -> list[date]:
    if not isinstance(value, list):
        raise _FileError(f"{where} must be a list of dates, got {value!r}")
    return [_file_date(v, f"{where}[{i}]") for i, v in enumerate(value)]


def _parse_closures(entry: dict[str, object], where: str, start: date, end: date) -> list[date]:
    """The days a term's table closes: its half-term range, INSET days and other closures."""
    closures: list[date] = []
    if "half_term" in entry:
        first_last = _file_dates(entry["half_term"], f"{where} half_term")
        if len(first_last) != 2 or first_last[1] < first_last[0]:
            raise _FileError(f"{where} half_term must be [first day, last day] of the break")
        d = first_last[0]
        while d <= first_last[1]:
            closures.append(d)
            d += _ONE_DAY
    closures += _file_dates(entry.get("closures", []), f"{where} closures")
    for d in closures:
        if not start <= d <= end:
            raise _FileError(f"{where} closure {d} is outside the term ({start} to {end})")
    # INSET days may also be the staff days in the week before pupils start (not school days either
    # way), as long as they stay in the term's school year.
    inset = _file_dates(entry.get("inset_days", []), f"{where} inset_days")
    for d in inset:
        before_start = start - timedelta(days=7) <= d < start and academic_year_of(d) == academic_year_of(start)
        if not (start <= d <= end or before_start):
            raise _FileError(f"{where} closure {d} is outside the term ({start} to {end}) and not in the "
                             "week before it starts")
    return closures + inset


def _parse_term(entry: dict[str, object], n: int, names: set[str]) -> tuple[Term, list[date]]:
    """One [[term]] table: the term and its closure days (half-term, INSET days, other closures)."""
    missing = {"name", "start", "end"} - set(entry)
    if missing:
        raise _FileError(f"term #{n} is missing {sorted(missing)}")
    extra = set(entry) - _TERM_KEYS
    if extra:
        raise _FileError(f"term #{n} has unknown key(s) {sorted(extra)}; allowed: {sorted(_TERM_KEYS)}")
    name = entry["name"]
    if not isinstance(name, str) or not name.strip():
        raise _FileError(f"term #{n} needs a non-empty name")
    where = f"term {name!r}"
    if name in names:
        raise _FileError(f"{where} appears twice")
    names.add(name)
    start = _file_date(entry["start"], f"{where} start")
    end = _file_date(entry["end"], f"{where} end")
    if end < start:
        raise _FileError(f"{where} ends ({end}) before it starts ({start})")
    if academic_year_of(end) != academic_year_of(start):
        raise _FileError(f"{where} runs across two academic years ({start} to {end}); 31 August ends a year")
    return Term(name=name, start=start, end=end), _parse_closures(entry, where, start, end)


def _read_terms_file(path: Path) -> dict[int, tuple[list[Term], list[date]]]:
    """The terms and closures in a council's TOML file, by academic year."""
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except OSError as exc:
        raise ValueError(f"calendar file {path}: cannot be read ({exc.strerror or exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"calendar file {path}: not valid TOML ({exc})") from exc

    by_year: dict[int, tuple[list[Term], list[date]]] = {}
    try:
        unknown = set(raw) - _TOP_KEYS
        if unknown:
            raise _FileError(f"unknown setting(s) {sorted(unknown)}; expected [[term]] tables")
        entries = raw.get("term", [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise _FileError("'term' must be a list of [[term]] tables")
        names: set[str] = set()
        for n, entry in enumerate(entries, start=1):
            term, closures = _parse_term(entry, n, names)
            terms, year_closures = by_year.setdefault(academic_year_of(term.start), ([], []))
            terms.append(term)
            year_closures.extend(closures)
    except _FileError as exc:
        raise ValueError(f"calendar file {path}: {exc}") from None
    return by_year


def load_calendar_data(path: Path | None, first_year: int, last_year: int, *,
                       school_file: Path | None = None) -> CalendarData:
    """Build the calendar for academic years `first_year`..`last_year` inclusive (2026 = 2026-27).

    Term dates, half-terms, INSET days and other closures come from the council's TOML file
    (`path`, or the shipped `data/school_terms.toml` when None); a year the file does not list gets
    `default_terms`. A year the file lists is taken as given in full. With `school_file` (a school
    that sets its own dates: academies, voluntary-aided and foundation schools, out-of-area schools),
    the years that file lists come from it, and the others from the council's. Bank holidays come
    from the `holidays` library (England). A bad file raises ValueError naming the file and the problem.
    """
    if last_year < first_year:
        raise ValueError(f"last academic year {last_year} is before the first {first_year}")
    path = DEFAULT_TERMS_FILE if path is None else path
    from_file = _read_terms_file(path)
    if school_file is not None:
        from_file.update(_read_terms_file(school_file))
        path = school_file
    bank_holidays = england_bank_holidays(first_year, last_year + 1)
    bank_set = set(bank_holidays)

    terms: list[Term] = []
    closures: list[date] = []
    for year in range(first_year, last_year + 1):
        if year in from_file:
            year_terms, year_closures = from_file[year]
            closed = bank_set | set(year_closures)
            for t in year_terms:
                for d, which in ((t.start, "starts"), (t.end, "ends")):
                    if d.weekday() >= 5 or d in closed:
                        raise ValueError(
                            f"calendar file {path}: term {t.name!r} {which} on {d:%A} {d}, "
                            "which is not a school day (weekend, bank holiday or closure)"
                        )
        else:
            year_terms, year_closures = default_terms(year, bank_set)
        terms.extend(year_terms)
        closures.extend(year_closures)
    try:
        return CalendarData(terms=terms, closures=closures, bank_holidays=bank_holidays)
    except ValueError as exc:
        raise ValueError(f"calendar file {path}: {exc}") from exc
