"""The fleet's daily rhythm: which phase a moment belongs to, in the fleet's time zone.

STANDBY 00:00 → PROCESSING start, PROCESSING → meeting start, ACTIVE → FREE start, FREE →
midnight. :class:`PhaseTracker` adds one rule a pure function of the clock cannot give: within
a day the phase only moves forward, so a clock stepped back (NTP, a DST fold) never sends
the fleet from ACTIVE back to PROCESSING.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from enum import StrEnum
from zoneinfo import ZoneInfo


class Phase(StrEnum):
    """One part of the fleet's day, in order."""

    STANDBY = "STANDBY"
    """Night: no autonomous speech; users are still answered."""
    PROCESSING = "PROCESSING"
    """Morning: long-term memory and the daily report are being made."""
    ACTIVE = "ACTIVE"
    """Working hours: meeting and task-driven speech."""
    FREE = "FREE"
    """Evening: social talk in the lounge."""


_ORDER = {phase: index for index, phase in enumerate(Phase)}


@dataclass(frozen=True, slots=True)
class DaySchedule:
    """Where the phase boundaries fall, as local wall-clock times in ``zone``."""

    zone: ZoneInfo
    processing_start: time = time(6, 0)
    meeting_start: time = time(7, 0)
    free_start: time = time(20, 0)

    def __post_init__(self) -> None:
        if not time(0, 0) < self.processing_start < self.meeting_start < self.free_start:
            raise ValueError("phase boundaries must be increasing within the day")

    def local(self, moment: datetime) -> datetime:
        """``moment`` (timezone-aware) as wall-clock time in the fleet's zone."""
        if moment.tzinfo is None:
            raise ValueError("moment must be timezone-aware")
        return moment.astimezone(self.zone)

    def phase_at(self, moment: datetime) -> Phase:
        """The phase that wall-clock time says ``moment`` is in."""
        clock = self.local(moment).time()
        if clock < self.processing_start:
            return Phase.STANDBY
        if clock < self.meeting_start:
            return Phase.PROCESSING
        if clock < self.free_start:
            return Phase.ACTIVE
        return Phase.FREE


class PhaseTracker:
    """Follows the phase over time and never moves backwards within a local date."""

    def __init__(self, schedule: DaySchedule) -> None:
        self.schedule = schedule
        self._day: date | None = None
        self._phase: Phase | None = None

    @property
    def phase(self) -> Phase | None:
        """The last phase returned by :meth:`observe` (None before the first call)."""
        return self._phase

    def observe(self, moment: datetime) -> Phase:
        """The phase at ``moment``, held at the latest one already seen on the same date."""
        day = self.schedule.local(moment).date()
        phase = self.schedule.phase_at(moment)
        if self._day is not None and self._phase is not None:
            if day < self._day:
                # The clock went back over midnight: stay where yesterday ended.
                return self._phase
            if day == self._day and _ORDER[phase] < _ORDER[self._phase]:
                phase = self._phase
        self._day, self._phase = day, phase
        return phase
