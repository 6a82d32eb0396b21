"""Cedar's `datetime` and `duration` extension types, both counted in milliseconds.

A datetime is the number of non-leap milliseconds since 1970-01-01T00:00:00Z and a duration a
number of milliseconds, each a signed 64-bit integer. Parsing follows Cedar 4.x: the same
regular expressions, the same order of checks (patterns first, then the date, the time of day
and the UTC offset), proleptic Gregorian dates from year 0000 to 9999, and no leap seconds.
Operations raise `ExtensionError` where Cedar reports an overflow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cedar_smt.core.errors import ExtensionError

I64_MIN = -(2**63)
I64_MAX = 2**63 - 1
MS_PER_SECOND = 1000
MS_PER_MINUTE = 60 * MS_PER_SECOND
MS_PER_HOUR = 60 * MS_PER_MINUTE
MS_PER_DAY = 24 * MS_PER_HOUR
EPOCH_TEXT = "1970-01-01"

_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_HMS = re.compile(r"T([0-9]{2}):([0-9]{2}):([0-9]{2})")
_MS_AND_OFFSET = re.compile(r"(\.([0-9]{3}))?(Z|((\+|-)([0-9]{2})([0-9]{2})))\Z")
_DURATION = re.compile(r"-?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?\Z")
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@dataclass(frozen=True, slots=True, order=True)
class Duration:
    """A span of time in milliseconds, possibly negative."""

    ms: int

    def to_milliseconds(self) -> int:
        return self.ms

    def to_seconds(self) -> int:
        return _div(self.to_milliseconds(), 1000)

    def to_minutes(self) -> int:
        return _div(self.to_seconds(), 60)

    def to_hours(self) -> int:
        return _div(self.to_minutes(), 60)

    def to_days(self) -> int:
        return _div(self.to_hours(), 24)

    def __str__(self) -> str:
        return f"{self.ms}ms"

    def to_cedar(self) -> str:
        return f'duration("{self}")'

    def to_json(self) -> dict[str, str]:
        return {"fn": "duration", "arg": str(self)}


@dataclass(frozen=True, slots=True, order=True)
class Datetime:
    """An instant: milliseconds since the Unix epoch, in UTC."""

    ms: int

    def iso(self) -> str | None:
        """`YYYY-MM-DDThh:mm:ss.SSSZ`, or None when the year is outside 0000–9999."""
        days, ms_of_day = divmod(self.ms, MS_PER_DAY)
        year, month, day = _civil_from_days(days)
        if not 0 <= year <= 9999:
            return None
        seconds, ms = divmod(ms_of_day, 1000)
        minutes, second = divmod(seconds, 60)
        hour, minute = divmod(minutes, 60)
        return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}.{ms:03d}Z"

    def __str__(self) -> str:
        iso = self.iso()
        return self.to_cedar() if iso is None else iso

    def to_cedar(self) -> str:
        iso = self.iso()
        if iso is None:
            return f'datetime("{EPOCH_TEXT}").offset({Duration(self.ms).to_cedar()})'
        return f'datetime("{iso}")'

    def to_json(self) -> dict[str, object]:
        iso = self.iso()
        if iso is None:
            epoch = {"__extn": {"fn": "datetime", "arg": EPOCH_TEXT}}
            return {"fn": "offset", "args": [epoch, {"__extn": Duration(self.ms).to_json()}]}
        return {"fn": "datetime", "arg": iso}


def parse_datetime(s: str) -> Datetime:
    """The instant written `s`, or an `ExtensionError` as Cedar's `datetime` would raise."""
    date = _DATE.match(s)
    if date is None:
        raise ExtensionError(f"invalid date pattern in `{s}`: expected `YYYY-MM-DD` first")
    if date.end() == len(s):
        return Datetime(_days(date, s) * MS_PER_DAY)
    hms = _HMS.match(s, date.end())
    if hms is None:
        raise ExtensionError(f"invalid hour/minute/second pattern in `{s}`: expected `Thh:mm:ss`")
    tail = _MS_AND_OFFSET.match(s, hms.end())
    if tail is None:
        raise ExtensionError(
            f"invalid millisecond and/or offset pattern in `{s}`: expected `Z`, `.SSSZ`, "
            "`+hhmm`, `-hhmm`, `.SSS+hhmm` or `.SSS-hhmm` at the end"
        )
    days = _days(date, s)
    hour, minute, second = (int(g) for g in hms.groups())
    if not (hour < 24 and minute < 60 and second < 60):
        raise ExtensionError(f"invalid hour/minute/second `{hms.group()[1:]}` in `{s}`")
    ms = int(tail.group(2)) if tail.group(1) else 0
    offset = 0
    if tail.group(4):
        offset_hour, offset_minute = int(tail.group(6)), int(tail.group(7))
        if not (offset_hour < 24 and offset_minute < 60):
            raise ExtensionError(f"invalid offset range `{tail.group(4)}` in `{s}`")
        offset = offset_hour * MS_PER_HOUR + offset_minute * MS_PER_MINUTE
        offset = -offset if tail.group(5) == "-" else offset
    time = hour * MS_PER_HOUR + minute * MS_PER_MINUTE + second * MS_PER_SECOND + ms
    return Datetime(days * MS_PER_DAY + time - offset)


def parse_duration(s: str) -> Duration:
    """The duration written `s`, or an `ExtensionError` as Cedar's `duration` would raise."""
    match = _DURATION.match(s) if s not in ("", "-") else None
    if match is None:
        raise ExtensionError(
            f"invalid duration pattern `{s}`: expected quantity-unit pairs such as `1d2h3m4s5ms`,"
            " with an optional leading `-`"
        )
    # Cedar adds (or subtracts) the parts one by one with overflow checks; as all parts have
    # the same sign, checking the exact total gives the same answer.
    units = (MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, MS_PER_SECOND, 1)
    total = 0
    for group, unit in zip((2, 4, 6, 8, 10), units, strict=True):
        digits = (match.group(group) or "0").lstrip("0")
        if len(digits) > 20:
            raise ExtensionError(f"duration `{s}` overflows 64-bit milliseconds")
        total += int(digits or "0") * unit
    ms = -total if s.startswith("-") else total
    return Duration(_checked(ms, f"duration `{s}` overflows 64-bit milliseconds"))


def offset(dt: Datetime, d: Duration) -> Datetime:
    """`dt.offset(d)`: the instant `d` after `dt`."""
    return Datetime(
        _checked(dt.ms + d.ms, f"overflow when adding `{d.to_cedar()}` to `{dt.to_cedar()}`")
    )


def duration_since(a: Datetime, b: Datetime) -> Duration:
    """`a.durationSince(b)`: the duration from `b` to `a`."""
    message = f"overflow when computing the duration between `{a.to_cedar()}` and `{b.to_cedar()}`"
    return Duration(_checked(a.ms - b.ms, message))


def to_date(dt: Datetime) -> Datetime:
    """`dt.toDate()`: midnight UTC at the start of the day holding `dt`."""
    return Datetime(
        _checked(dt.ms - dt.ms % MS_PER_DAY, f"overflow when computing the date of `{dt}`")
    )


def to_time(dt: Datetime) -> Duration:
    """`dt.toTime()`: the time since midnight UTC, in [0, one day)."""
    return Duration(dt.ms % MS_PER_DAY)


def _checked(value: int, message: str) -> int:
    if not I64_MIN <= value <= I64_MAX:
        raise ExtensionError(message)
    return value


def _div(a: int, b: int) -> int:
    """Integer division rounding toward zero, as in Rust (Python's `//` floors)."""
    quotient = abs(a) // b
    return -quotient if a < 0 else quotient


def _days(date: re.Match[str], s: str) -> int:
    """Days from 1970-01-01 to the valid proleptic Gregorian date `date` matched in `s`."""
    year, month, day = (int(g) for g in date.groups())
    if not (1 <= month <= 12 and 1 <= day <= _days_in_month(year, month)):
        raise ExtensionError(f"invalid date `{date.group()}` in `{s}`")
    return _days_from_civil(year, month, day)


def _days_in_month(year: int, month: int) -> int:
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return 29 if month == 2 and leap else _DAYS_IN_MONTH[month - 1]


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Howard Hinnant's `days_from_civil`; unlike `datetime.date`, it handles year 0."""
    year -= month <= 2
    era, year_of_era = divmod(year, 400)
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def _civil_from_days(days: int) -> tuple[int, int, int]:
    """The inverse of `_days_from_civil`."""
    era, day_of_era = divmod(days + 719468, 146097)
    year_of_era = (
        day_of_era - day_of_era // 1460 + day_of_era // 36524 - day_of_era // 146096
    ) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    shifted_month = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * shifted_month + 2) // 5 + 1
    month = shifted_month + 3 if shifted_month < 10 else shifted_month - 9
    return era * 400 + year_of_era + (month <= 2), month, day
