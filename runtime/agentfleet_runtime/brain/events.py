"""The fleet's daily events and when each is due; run-once bookkeeping lives in Redis.

Each event has a start time and a window. An event is due when the local time is inside its
window and it has not yet run for that local date, so a process that was down at 06:00 but
back at 06:40 still runs the pipeline, while one that starts at 21:00 does not fire a
morning event twelve hours late. The pipeline's dates are not lost either way: at start-up
the process catches up every date still owed whose log exists
(:mod:`agentfleet_runtime.brain.catchup`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from agentfleet_runtime.brain.phases import DaySchedule


class EventKind(StrEnum):
    """The events of the day."""

    PIPELINE = "pipeline"
    """Long-term memory (長期記憶) and the Daily Report, at PROCESSING start."""
    CONCLUSION = "conclusion"
    """SPECTRA wraps up the working day in the lounge, at FREE start."""
    REST = "rest"
    """PAZ says good night in the lounge, at midnight."""


@dataclass(frozen=True, slots=True)
class DailyEvent:
    """One event: what, at which local time, for how long it may still start, by whom."""

    kind: EventKind
    at: time
    window: timedelta
    persona: str
    channel: str


@dataclass(frozen=True, slots=True)
class DueEvent:
    """An event that should run now, for the local date it belongs to."""

    event: DailyEvent
    day: date

    @property
    def marker(self) -> str:
        """Identifies this event on this date: the key of its run-once record."""
        return f"{self.event.kind.value}:{self.day.isoformat()}"


def daily_events(schedule: DaySchedule) -> tuple[DailyEvent, ...]:
    """The three events of the fleet's day for ``schedule``'s phase boundaries."""
    processing = datetime.combine(date.min, schedule.processing_start)
    free = datetime.combine(date.min, schedule.free_start)
    return (
        DailyEvent(
            EventKind.PIPELINE,
            schedule.processing_start,
            # The pipeline may catch up until the working day ends.
            window=free - processing,
            persona="spectra",
            channel="command_center",
        ),
        DailyEvent(
            EventKind.CONCLUSION,
            schedule.free_start,
            window=timedelta(hours=1),
            persona="spectra",
            channel="lounge",
        ),
        DailyEvent(
            EventKind.REST, time(0, 0), window=timedelta(hours=1), persona="paz", channel="lounge"
        ),
    )


def due_events(schedule: DaySchedule, moment: datetime, already_run: set[str]) -> list[DueEvent]:
    """Events whose window contains ``moment`` and whose marker is not in ``already_run``."""
    local = schedule.local(moment)
    due = []
    for event in daily_events(schedule):
        start = datetime.combine(local.date(), event.at, tzinfo=schedule.zone)
        candidate = DueEvent(event, local.date())
        if start <= local < start + event.window and candidate.marker not in already_run:
            due.append(candidate)
    return due
