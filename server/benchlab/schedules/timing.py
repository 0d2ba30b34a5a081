"""When a schedule is due: cron expressions (croniter) in an IANA time zone, jitter, and the catch-up plan.

croniter does the calendar (day-of-month/day-of-week rules, DST on aware datetimes: a local time that a
spring-forward skips fires at the first instant after it, one that a fall-back repeats fires at both). What
it lacks is written here: an error that names the cron field that is wrong (its own messages quote the whole
expression), a jitter that every replica computes alike (a hash of the schedule id and the due time, not a
random draw), and the catch-up policy after a downtime (`plan_catch_up`).
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

# croniter ships no types (types-croniter stubs exist for 6.x, not for the pinned 7.0.0).
from croniter import CroniterBadDateError, CroniterError, croniter  # type: ignore[import-untyped]

from benchlab.errors import InvalidInputError

FIELDS = (("minute", "0-59"), ("hour", "0-23"), ("day of month", "1-31"), ("month", "1-12 or JAN-DEC"),
          ("day of week", "0-7 (0 and 7 are Sunday) or SUN-SAT"))
ALIASES = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
MAX_JITTER_S = 3600
MAX_MISSED_RUNS = 100
GAP_SAMPLES = 500            # due times looked at to find a cron's shortest gap (jitter must stay below it)
MAX_CATCH_UP_STEPS = 20_000  # due times enumerated after a downtime; beyond, skipped counts are lower bounds


def check_cron(expression: str) -> str:
    """The expression, normalised (single spaces), when it is a 5-field cron expression (or an @alias) that
    fires at least once; InvalidInputError naming the field that is wrong otherwise."""
    text = " ".join(expression.split())
    if text.startswith("@"):
        if text.lower() not in ALIASES:
            raise InvalidInputError(f"cron: {text!r} is not a known alias; use one of {', '.join(ALIASES)} or 5 "
                                    "fields (minute hour day-of-month month day-of-week)", argument="cron")
        return text.lower()
    parts = text.split(" ") if text else []
    if len(parts) != 5:
        raise InvalidInputError(f"cron: {expression!r} has {len(parts)} field(s); write exactly 5: minute hour "
                                "day-of-month month day-of-week, e.g. `*/15 * * * *` (every 15 minutes)",
                                argument="cron")
    for index, ((name, allowed), part) in enumerate(zip(FIELDS, parts, strict=True)):
        alone = " ".join(part if i == index else "*" for i in range(5))
        if not croniter.is_valid(alone):
            raise InvalidInputError(f"cron: the {name} field {part!r} is not valid; use {allowed}, `*`, lists "
                                    "(1,2), ranges (1-5) or steps (*/10)", argument="cron")
    if not croniter.is_valid(text):
        raise InvalidInputError(f"cron: {text!r} is not a valid cron expression", argument="cron")
    try:
        croniter(text, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
    except CroniterBadDateError:
        raise InvalidInputError(f"cron: {text!r} never fires (the day-of-month field names no day that month "
                                "has); pick days that exist", argument="cron") from None
    return text


def check_timezone(name: str) -> ZoneInfo:
    """The IANA zone called `name`; InvalidInputError with a hint otherwise."""
    if name not in _zone_names():
        raise InvalidInputError(f"timezone: {name!r} is not an IANA time zone name; use e.g. `UTC`, "
                                "`Europe/Berlin` or `America/New_York`", argument="timezone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInputError(f"timezone: {name!r} cannot be loaded", argument="timezone") from None


def _zone_names() -> set[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = available_timezones() | {"UTC"}
    return _ZONES


_ZONES: set[str] | None = None


def check_max_missed(value: int) -> int:
    if not 0 <= value <= MAX_MISSED_RUNS:
        raise InvalidInputError(f"maxMissedRuns: {value} is out of range; use 0..{MAX_MISSED_RUNS} (missed due "
                                "times run late after a downtime)", argument="maxMissedRuns")
    return value


def check_jitter(seconds: int, cron: str, timezone: str, now: datetime) -> int:
    """`seconds` when within 0..3600 and shorter than the shortest gap between the cron's due times (a longer
    jitter would carry a firing past the next due time, which would then count as missed)."""
    if not 0 <= seconds <= MAX_JITTER_S:
        raise InvalidInputError(f"jitterSeconds: {seconds} is out of range; use 0..{MAX_JITTER_S}",
                                argument="jitterSeconds")
    if seconds:
        gap = shortest_gap(cron, timezone, now)
        if seconds >= gap.total_seconds():
            raise InvalidInputError(f"jitterSeconds: {seconds} s is not shorter than the shortest interval between "
                                    f"this schedule's due times ({gap.total_seconds():.0f} s); use less",
                                    argument="jitterSeconds")
    return seconds


def shortest_gap(cron: str, timezone: str, now: datetime) -> timedelta:
    """The shortest interval between consecutive due times among the next GAP_SAMPLES after `now`."""
    times = due_times(cron, timezone, now)
    previous = next(times)
    gap = timedelta.max
    for _, current in zip(range(GAP_SAMPLES), times, strict=False):
        gap, previous = min(gap, current - previous), current
    return gap


def due_times(cron: str, timezone: str, after: datetime) -> Iterator[datetime]:
    """The cron's due times strictly after `after`, in UTC, ascending."""
    times = croniter(cron, after.astimezone(ZoneInfo(timezone)))
    while True:
        try:
            yield times.get_next(datetime).astimezone(UTC)
        except CroniterError:  # no further date (cannot happen for a checked expression within 50 years)
            return


def next_due(cron: str, timezone: str, after: datetime) -> datetime:
    return next(due_times(cron, timezone, after))


def jitter_delay(schedule_id: UUID, due_at: datetime, jitter_seconds: int) -> timedelta:
    """The delay of the firing for `due_at`: a whole number of seconds in [0, jitter_seconds], the same in every
    replica and every retry: the first 8 bytes of SHA-256("<schedule id>|<due time as UTC ISO 8601>"), big-endian,
    modulo jitter_seconds + 1."""
    if jitter_seconds <= 0:
        return timedelta(0)
    key = f"{schedule_id}|{due_at.astimezone(UTC).isoformat()}".encode()
    return timedelta(seconds=int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % (jitter_seconds + 1))


def fire_time(schedule_id: UUID, due_at: datetime, jitter_seconds: int) -> datetime:
    return due_at + jitter_delay(schedule_id, due_at, jitter_seconds)


@dataclass(frozen=True)
class CatchUp:
    """What to do for a schedule whose firing time has passed, at `now`."""

    run: list[tuple[datetime, bool]]   # due times to start a run for now, oldest first, with "caught up late"
    skipped_first: datetime | None     # the missed due times not run: from, through, how many
    skipped_last: datetime | None
    skipped_count: int
    skipped_exact: bool                # False: more due times were missed than were counted (a lower bound)
    next_due: datetime                 # the next due time not dealt with yet


def plan_catch_up(schedule_id: UUID, cron: str, timezone: str, jitter_seconds: int, max_missed: int,
                  pending: datetime, now: datetime) -> CatchUp:
    """The policy for the due times from `pending` (the oldest one not dealt with, whose firing time passed)
    up to `now`: the most recent of them is the current one and fires as usual (at its own jittered time; when
    that is still ahead, it stays pending); the ones before it were missed (the scheduler was down, or paused
    with its next due time kept): the `max_missed` most recent of them run now, the others are skipped."""
    tail: deque[datetime] = deque(maxlen=max_missed + 1)
    first_dropped: datetime | None = None
    count = 0
    exact = True
    current = pending
    times = due_times(cron, timezone, pending)
    while True:
        if len(tail) == tail.maxlen:
            first_dropped = first_dropped or tail[0]
            count += 1
        tail.append(current)
        following = next(times, None)
        if following is None or following > now:
            break
        if count + len(tail) >= MAX_CATCH_UP_STEPS:  # a very long downtime: jump to the last due times
            exact = False
            first_dropped = first_dropped or tail[0]
            count += len(tail)  # at least these were skipped too: the last due times come after them
            latest_ones = _latest_due_times(cron, timezone, now, max_missed + 1)
            tail = deque((due for due in latest_ones if due > current), maxlen=max_missed + 1)
            break
        current = following
    latest = tail.pop()
    missed = list(tail)
    run = [(due, True) for due in missed]
    if fire_time(schedule_id, latest, jitter_seconds) <= now:
        run.append((latest, False))
        next_one = next_due(cron, timezone, latest)
    else:
        next_one = latest
    skipped_last = None
    if count:
        skipped_last = _previous_due(cron, timezone, missed[0] if missed else latest)
    return CatchUp(run, first_dropped, skipped_last, count, exact, next_one)


def _latest_due_times(cron: str, timezone: str, now: datetime, count: int) -> list[datetime]:
    """The `count` most recent due times at or before `now`, oldest first."""
    times = croniter(cron, (now + timedelta(microseconds=1)).astimezone(ZoneInfo(timezone)))
    found = [times.get_prev(datetime).astimezone(UTC) for _ in range(count)]
    return [due for due in reversed(found) if due <= now]


def _previous_due(cron: str, timezone: str, due: datetime) -> datetime:
    return croniter(cron, due.astimezone(ZoneInfo(timezone))).get_prev(datetime).astimezone(UTC)
