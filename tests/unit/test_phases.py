from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from agentfleet_runtime.brain.events import EventKind, due_events
from agentfleet_runtime.brain.phases import DaySchedule, Phase, PhaseTracker

TOKYO = ZoneInfo("Asia/Tokyo")
SCHEDULE = DaySchedule(TOKYO)


def tokyo(hour: int, minute: int = 0, day: int = 25) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=TOKYO)


@pytest.mark.parametrize(
    ("hour", "minute", "phase"),
    [
        (0, 0, Phase.STANDBY),
        (5, 59, Phase.STANDBY),
        (6, 0, Phase.PROCESSING),
        (6, 59, Phase.PROCESSING),
        (7, 0, Phase.ACTIVE),
        (19, 59, Phase.ACTIVE),
        (20, 0, Phase.FREE),
        (23, 59, Phase.FREE),
    ],
)
def test_phase_boundaries_in_tokyo(hour: int, minute: int, phase: Phase) -> None:
    assert SCHEDULE.phase_at(tokyo(hour, minute)) is phase


def test_phase_uses_the_fleet_zone_not_utc() -> None:
    # 22:30 UTC is 07:30 in Tokyo the next day.
    assert SCHEDULE.phase_at(datetime(2026, 11, 24, 22, 30, tzinfo=UTC)) is Phase.ACTIVE


def test_meeting_start_is_configurable() -> None:
    late = DaySchedule(TOKYO, meeting_start=time(9, 30))
    assert late.phase_at(tokyo(9, 0)) is Phase.PROCESSING
    assert late.phase_at(tokyo(9, 30)) is Phase.ACTIVE


def test_boundaries_must_increase() -> None:
    with pytest.raises(ValueError):
        DaySchedule(TOKYO, meeting_start=time(5, 0))


def test_tracker_never_flips_back_from_active_to_processing() -> None:
    tracker = PhaseTracker(SCHEDULE)
    assert tracker.observe(tokyo(7, 0)) is Phase.ACTIVE
    # A clock stepped back by NTP must not re-enter PROCESSING (and re-run its work).
    assert tracker.observe(tokyo(6, 58)) is Phase.ACTIVE
    assert tracker.observe(tokyo(7, 1)) is Phase.ACTIVE
    assert tracker.observe(tokyo(20, 0)) is Phase.FREE


def test_tracker_starts_a_new_day_at_standby() -> None:
    tracker = PhaseTracker(SCHEDULE)
    tracker.observe(tokyo(23, 59))
    assert tracker.observe(tokyo(0, 1, day=26)) is Phase.STANDBY
    assert tracker.observe(tokyo(23, 59, day=25)) is Phase.STANDBY


def test_events_fire_at_their_times() -> None:
    kinds = {e.event.kind for e in due_events(SCHEDULE, tokyo(6, 0), set())}
    assert kinds == {EventKind.PIPELINE}
    conclusion = due_events(SCHEDULE, tokyo(20, 0), set())
    assert [(e.event.kind, e.event.persona, e.event.channel) for e in conclusion] == [
        (EventKind.CONCLUSION, "spectra", "lounge")
    ]
    rest = due_events(SCHEDULE, tokyo(0, 0, day=26), set())
    assert [(e.event.kind, e.event.persona, e.event.channel) for e in rest] == [
        (EventKind.REST, "paz", "lounge")
    ]
    assert due_events(SCHEDULE, tokyo(12, 0), {"pipeline:2026-11-25"}) == []


def test_each_event_runs_once_per_date() -> None:
    [first] = due_events(SCHEDULE, tokyo(6, 0), set())
    assert first.marker == "pipeline:2026-11-25"
    assert due_events(SCHEDULE, tokyo(6, 5), {first.marker}) == []
    [tomorrow] = due_events(SCHEDULE, tokyo(6, 0, day=26), {first.marker})
    assert tomorrow.marker == "pipeline:2026-11-26"


def test_a_late_start_catches_up_the_pipeline_but_not_stale_posts() -> None:
    assert [e.event.kind for e in due_events(SCHEDULE, tokyo(6, 40), set())] == [EventKind.PIPELINE]
    assert due_events(SCHEDULE, tokyo(21, 30), set()) == []
    assert due_events(SCHEDULE, tokyo(20, 0) + timedelta(minutes=59), set())
