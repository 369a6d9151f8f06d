"""Which dates the long-term memory pipeline still owes, and which it can no longer form.

The pipeline forms a date's memories from that date's log in Redis, and the log expires a
few days after its last message. A fleet that was down at 06:00 (or whose CronJob did not
run) owes those dates: while a date's log exists it can still be caught up; once the log
has expired the date is lost to long-term memory, and that must be said, not skipped in
silence. Deciding which is which is plain logic, here; reading Redis and PostgreSQL and
running the pipeline is the caller's work.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

DATE_FORMAT_HINT = "YYYY-MM-DD"


def last_due_day(local_now: datetime, processing_start: time) -> date:
    """The latest date whose pipeline is due at ``local_now`` (a fleet-local time).

    A date is due once the next day's PROCESSING has started: at 05:00 yesterday is not yet
    due (its 06:00 run has not come), at 06:00 it is.
    """
    days_back = 1 if local_now.time() >= processing_start else 2
    return local_now.date() - timedelta(days=days_back)


def parse_run_date(text: str, today: date) -> date:
    """The date a person asked the pipeline to run, or ValueError saying what is wrong.

    Only a date that has ended in the fleet's time zone can be run: today's log is still
    being written, and memories formed from half a day would mark the date done, so the
    rest of it would never be remembered.
    """
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"--date {text!r} is not a date {DATE_FORMAT_HINT} (e.g. {today - timedelta(days=1)})"
        ) from None
    if day >= today:
        raise ValueError(
            f"--date {day} has not ended yet in the fleet's time zone (today is {today}): "
            f"the pipeline runs a date once it is over, e.g. --date {today - timedelta(days=1)}"
        )
    return day


def candidate_days(
    through: date, recorded: Iterable[date], scheduled: date | None = None
) -> list[date]:
    """The dates :func:`plan_catch_up` decides about, oldest first: what to look up."""
    days = {day for day in recorded if day <= through}
    if scheduled is not None:
        days.add(scheduled)
    return sorted(days)


@dataclass(frozen=True, slots=True)
class CatchUpPlan:
    """What to do about the dates the pipeline may still owe."""

    run: tuple[date, ...]
    """Dates to run, oldest first: each progress differential builds on the one before."""
    expired: tuple[date, ...]
    """Dates never processed whose log is gone: lost to long-term memory, to be reported."""
    settled: tuple[date, ...]
    """Recorded dates that are already processed: nothing to do but forget them."""


def plan_catch_up(
    through: date,
    recorded: Iterable[date],
    logged: Iterable[date],
    completed: Iterable[date],
    scheduled: date | None = None,
) -> CatchUpPlan:
    """Sort the dates up to ``through`` into those to run, those expired and those done.

    ``recorded``: dates whose log was written (the fleet saw messages that day).
    ``logged``: dates whose log still exists. ``completed``: dates with a completion record.
    ``scheduled``: the date the daily run is for; it always runs (the pipeline itself
    finds a completed date done, or only its report missing), and without a log a quiet
    day still gets its short report. Later recorded dates are left for later: their log may
    still be growing, or their 06:00 has not come.
    """
    has_log, done = set(logged), set(completed)
    run: list[date] = []
    expired: list[date] = []
    settled: list[date] = []
    for day in candidate_days(through, recorded, scheduled):
        if day == scheduled or (day in has_log and day not in done):
            run.append(day)
        elif day in done:
            settled.append(day)
        else:
            expired.append(day)
    return CatchUpPlan(tuple(run), tuple(expired), tuple(settled))
