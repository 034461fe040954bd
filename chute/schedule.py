"""``chute.Period`` and ``chute.Cron``: when a deployed function runs on its own (``schedule=``).

They are validated records: ``@app.function(schedule=chute.Period(hours=1))`` stores the schedule
on the function's spec (``FunctionSpec.schedule``, its ``to_json()``). Unlike Modal, whose client
validates neither (a bad cron string fails only at deploy time on the server), chute checks
both when they are built, so the mistake is reported where it was made.

Example:
    ```python
    @app.function(schedule=chute.Cron("0 6 * * *", timezone="America/New_York"))
    def report() -> None: ...

    @app.function(schedule=chute.Period(minutes=5))
    def sweep() -> None: ...
    ```
"""

from __future__ import annotations

import calendar
import json
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chute.exception import InvalidError

# Cron field ranges, in order: minute, hour, day of month, month, day of week (0 or 7 = Sunday).
_CRON_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)
_CRON_NAMES = {
    "month": ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
    "day of week": ["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
}
_CRON_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_ITEM_RE = re.compile(r"^(\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(\d+))?$")


class Schedule:
    """Base of ``Period`` and ``Cron`` (``modal.schedule.Schedule``)."""

    def to_json(self) -> dict[str, Any]:
        """The JSON-ready record stored on the function spec."""
        raise NotImplementedError

    def next_after(self, after: float, last_due: float | None = None) -> float:
        """The first tick strictly after ``after`` (Unix seconds). ``last_due`` is the tick that
        came before (a ``Period`` counts from it, so ticks stay on their grid however late a
        worker looks); ticks missed meanwhile are skipped: they run once, not each."""
        raise NotImplementedError

    @property
    def sig(self) -> str:
        """A stable name of the schedule: its stored ticks are reset when it changes."""
        return json.dumps(self.to_json(), sort_keys=True)

    @staticmethod
    def from_json(data: dict[str, Any]) -> Schedule:
        """Rebuild a schedule from ``to_json()``.

        Raises:
            InvalidError: not a stored schedule.
        """
        kind = data.get("kind")
        if kind == "period":
            return Period(**{k: v for k, v in data.items() if k != "kind"})
        if kind == "cron":
            return Cron(data["cron_string"], timezone=data.get("timezone", "UTC"))
        raise InvalidError(f"Not a stored schedule: {data!r}.")


class Period(Schedule):
    """Run every period, counted from the deploy (calendar-aware: ``days=1`` is the same
    wall-clock time the next day, ``months=1`` the same day next month).

    Raises:
        TypeError: a field other than ``seconds`` is not an int (as in Modal).
        InvalidError: a negative field, or every field zero.

    Example:
        ```python
        @app.function(schedule=chute.Period(days=1))
        def daily() -> None: ...
        ```
    """

    def __init__(
        self,
        *,
        years: int = 0,
        months: int = 0,
        weeks: int = 0,
        days: int = 0,
        hours: int = 0,
        minutes: int = 0,
        seconds: float = 0,
    ) -> None:
        fields = {"years": years, "months": months, "weeks": weeks, "days": days, "hours": hours}
        fields["minutes"] = minutes
        for name, value in fields.items():
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"Period.{name} must be an int, got {type(value).__name__}.")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise TypeError(f"Period.seconds must be a number, got {type(seconds).__name__}.")
        if any(v < 0 for v in fields.values()) or seconds < 0:
            raise InvalidError("Period fields must be >= 0.")
        if not any(fields.values()) and not seconds:
            raise InvalidError(
                "A Period must be longer than zero: set at least one field, e.g. Period(hours=1)."
            )
        self.years, self.months, self.weeks, self.days = years, months, weeks, days
        self.hours, self.minutes, self.seconds = hours, minutes, seconds

    def next_after(self, after: float, last_due: float | None = None) -> float:
        base = after if last_due is None else last_due
        if not (self.years or self.months):
            step = timedelta(
                weeks=self.weeks, days=self.days, hours=self.hours, minutes=self.minutes, seconds=self.seconds
            ).total_seconds()
            return base + (math.floor((after - base) / step) + 1) * step
        # Calendar months: step on the UTC calendar until past `after`.
        at = datetime.fromtimestamp(base, UTC)
        while at.timestamp() <= after:
            at = _add_months(at, self.years * 12 + self.months) + timedelta(
                weeks=self.weeks, days=self.days, hours=self.hours, minutes=self.minutes, seconds=self.seconds
            )
        return at.timestamp()

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "period",
            "years": self.years,
            "months": self.months,
            "weeks": self.weeks,
            "days": self.days,
            "hours": self.hours,
            "minutes": self.minutes,
            "seconds": self.seconds,
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Period) and other.to_json() == self.to_json()

    def __hash__(self) -> int:
        return hash(tuple(self.to_json().values()))

    def __repr__(self) -> str:
        parts = [f"{k}={v}" for k, v in self.to_json().items() if k != "kind" and v]
        return f"Period({', '.join(parts)})"


class Cron(Schedule):
    """Run at the times a standard 5-field cron string names, in ``timezone`` (IANA, DST-aware).

    Fields: minute, hour, day of month, month, day of week. Each is ``*``, a number, a range
    ``a-b``, a list ``a,b``, any of them with a step ``/n``; months and days of week also take
    names (``jan``, ``mon``). The macros ``@hourly``, ``@daily``, ``@weekly``, ``@monthly``,
    ``@yearly`` work too.

    Raises:
        InvalidError: a malformed cron string or an unknown timezone.

    Example:
        ```python
        @app.function(schedule=chute.Cron("*/15 9-17 * * mon-fri", timezone="Europe/Paris"))
        def office_hours() -> None: ...
        ```
    """

    def __init__(self, cron_string: str, timezone: str = "UTC") -> None:
        if not isinstance(cron_string, str):
            raise InvalidError(f"Cron expects a cron string, got {type(cron_string).__name__}.")
        if not isinstance(timezone, str):
            raise InvalidError(f"Cron timezone must be a str, got {type(timezone).__name__}.")
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidError(
                f"Unknown timezone {timezone!r}: use an IANA name such as 'UTC' or 'America/New_York'."
            ) from None
        _check_cron(cron_string)
        self.cron_string = cron_string
        self.timezone = timezone

    def next_after(self, after: float, last_due: float | None = None) -> float:
        del last_due  # a cron time is absolute
        return _cron_next(self.cron_string, ZoneInfo(self.timezone), after)

    def to_json(self) -> dict[str, Any]:
        return {"kind": "cron", "cron_string": self.cron_string, "timezone": self.timezone}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cron) and other.to_json() == self.to_json()

    def __hash__(self) -> int:
        return hash((self.cron_string, self.timezone))

    def __repr__(self) -> str:
        return f"Cron({self.cron_string!r}, timezone={self.timezone!r})"


def _check_cron(cron_string: str) -> None:
    text = _CRON_MACROS.get(cron_string.strip().lower(), cron_string)
    fields = text.split()
    if len(fields) != 5:
        raise InvalidError(
            f"Invalid cron string {cron_string!r}: expected 5 fields (minute hour day-of-month month "
            "day-of-week), e.g. '0 6 * * *'."
        )
    for text_field, (what, low, high) in zip(fields, _CRON_FIELDS, strict=True):
        for item in text_field.lower().split(","):
            match = _ITEM_RE.match(item)
            if match is None or match.group(2) == "0":
                raise InvalidError(f"Invalid cron string {cron_string!r}: bad {what} field {text_field!r}.")
            if match.group(1) == "*":
                continue
            bounds = [_cron_value(v, what, low, high, cron_string) for v in match.group(1).split("-")]
            if len(bounds) == 2 and bounds[0] > bounds[1]:
                raise InvalidError(f"Invalid cron string {cron_string!r}: empty range {item!r} in {what}.")


def _cron_value(text: str, what: str, low: int, high: int, cron_string: str) -> int:
    names = _CRON_NAMES.get(what, [])
    if text in names:
        return names.index(text) + (1 if what == "month" else 0)
    if not text.isdigit() or not low <= int(text) <= high:
        raise InvalidError(
            f"Invalid cron string {cron_string!r}: {what} value {text!r} is outside {low}-{high}."
        )
    return int(text)


def _add_months(at: datetime, months: int) -> datetime:
    """``at`` moved by whole calendar months (the day clamped to the month's length)."""
    year, month = divmod(at.month - 1 + months, 12)
    year += at.year
    day = min(at.day, calendar.monthrange(year, month + 1)[1])
    return at.replace(year=year, month=month + 1, day=day)


def _cron_sets(cron_string: str) -> list[set[int]]:
    """The values each of the five fields matches (day of week: 0 = Sunday; 7 folded to 0)."""
    text = _CRON_MACROS.get(cron_string.strip().lower(), cron_string)
    out: list[set[int]] = []
    for text_field, (what, low, high) in zip(text.split(), _CRON_FIELDS, strict=True):
        values: set[int] = set()
        for item in text_field.lower().split(","):
            match = _ITEM_RE.match(item)
            assert match is not None  # checked by _check_cron
            step = int(match.group(2) or 1)
            if match.group(1) == "*":
                first, last = low, high
            else:
                bounds = [_cron_value(v, what, low, high, cron_string) for v in match.group(1).split("-")]
                first = bounds[0]
                last = bounds[-1] if len(bounds) == 2 or match.group(2) is None else high
            values.update(range(first, last + 1, step))
        if what == "day of week" and 7 in values:
            values = (values - {7}) | {0}
        out.append(values)
    return out


def _cron_next(cron_string: str, tz: ZoneInfo, after: float) -> float:
    """The first minute strictly after ``after`` that the cron string matches, in ``tz``."""
    minutes, hours, mdays, months, wdays = _cron_sets(cron_string)
    fields = (_CRON_MACROS.get(cron_string.strip().lower(), cron_string)).split()
    dom_any, dow_any = fields[2] == "*", fields[4] == "*"
    at = datetime.fromtimestamp(after, tz).replace(second=0, microsecond=0, tzinfo=None) + timedelta(
        minutes=1
    )
    for _ in range(400_000):  # at most a few years of skipping, however sparse the schedule
        if at.month not in months:
            at = (at.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
            continue
        dom_ok, dow_ok = at.day in mdays, (at.isoweekday() % 7) in wdays
        day_ok = (dom_ok and dow_ok) if dom_any or dow_any else (dom_ok or dow_ok)
        if not day_ok:
            at = at.replace(hour=0, minute=0) + timedelta(days=1)
            continue
        if at.hour not in hours:
            at = at.replace(minute=0) + timedelta(hours=1)
            continue
        if at.minute not in minutes:
            at += timedelta(minutes=1)
            continue
        when = at.replace(tzinfo=tz).timestamp()
        if when > after:
            return when
        at += timedelta(minutes=1)
    raise InvalidError(f"Cron string {cron_string!r} matches no time in the next years.")


__all__ = ["Cron", "Period", "Schedule"]
