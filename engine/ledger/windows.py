"""Budget windows: which spend counts now, as a bounded range of integer buckets.

Spend is recorded per (account, bucket). A window maps an instant to the bucket a charge lands in
and to the inclusive bucket range whose sum is the spend that counts against the limit now:

    none        bucket 0 forever                       range [0, 0]
    day         UTC day number                         range [today, today]
    week        day number of the ISO week's Monday    range [monday, monday]
    month       year * 12 + month - 1                  range [this month, this month]
    rolling:N   UTC day number                         range [today - N + 1, today]

So every charge reads at most ``MAX_ROLLING_DAYS`` bucket rows and writes one: O(1) in the length
of history. Rolling windows are day-granular: they cover the current UTC day and the N-1 before it.
Calendar windows follow UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

WindowKind = Literal["none", "day", "week", "month", "rolling"]
MAX_ROLLING_DAYS = 366
_EPOCH = date(1970, 1, 1)


def _day(now: datetime) -> int:
    if now.tzinfo is None:
        raise ValueError("the ledger needs timezone-aware datetimes (inject a UTC clock)")
    return (now.astimezone(UTC).date() - _EPOCH).days


def _day_start(day: int) -> datetime:
    d = _EPOCH + timedelta(days=day)
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


class Window(BaseModel):
    """A budget window; YAML may write it as ``none``, ``day``, ``week``, ``month`` or ``rolling:N``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: WindowKind = "none"
    days: int | None = Field(default=None, ge=1, le=MAX_ROLLING_DAYS, description="rolling windows only")

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        if isinstance(value, str):
            kind, _, days = value.strip().partition(":")
            if kind == "rolling":
                digits = days.rstrip("d")
                if not digits.isdigit():
                    raise ValueError(f"rolling window needs a day count, e.g. 'rolling:30'; got {value!r}")
                return {"kind": "rolling", "days": int(digits)}
            if days:
                raise ValueError(f"only rolling windows take a length; got {value!r}")
            return {"kind": kind}
        return value

    @model_validator(mode="after")
    def _days_for_rolling(self) -> Window:
        if (self.kind == "rolling") != (self.days is not None):
            raise ValueError("'days' is required for rolling windows and only for them")
        return self

    @property
    def descriptor(self) -> str:
        """Stable text form, stored with each account so a config change cannot reinterpret buckets."""
        return f"rolling:{self.days}" if self.kind == "rolling" else self.kind

    def bucket(self, now: datetime) -> int:
        """The bucket a charge made at ``now`` lands in."""
        day = _day(now)
        if self.kind == "none":
            return 0
        if self.kind == "week":
            return day - (_EPOCH + timedelta(days=day)).weekday()
        if self.kind == "month":
            utc = now.astimezone(UTC)
            return utc.year * 12 + utc.month - 1
        return day

    def span(self, now: datetime) -> tuple[int, int]:
        """Inclusive bucket range whose spend counts at ``now``."""
        current = self.bucket(now)
        if self.kind == "rolling":
            assert self.days is not None
            return current - self.days + 1, current
        return current, current

    def bounds(self, now: datetime) -> tuple[datetime | None, datetime | None]:
        """Start (inclusive) and end (exclusive) of the window containing ``now``; ``None`` when unbounded."""
        first, last = self.span(now)
        if self.kind == "none":
            return None, None
        if self.kind == "month":
            year, month0 = divmod(first, 12)
            start = datetime(year, month0 + 1, 1, tzinfo=UTC)
            ny, nm0 = divmod(first + 1, 12)
            return start, datetime(ny, nm0 + 1, 1, tzinfo=UTC)
        if self.kind == "week":
            return _day_start(first), _day_start(first + 7)
        return _day_start(first), _day_start(last + 1)
