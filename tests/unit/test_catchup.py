"""Which dates the pipeline still owes after the fleet was down, and `--date` as people type it."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from agentfleet_runtime.brain.catchup import (
    CatchUpPlan,
    last_due_day,
    parse_run_date,
    plan_catch_up,
)
from agentfleet_runtime.cli import main
from agentfleet_runtime.contract import Env
from tests.unit.test_config import VALID

TOKYO = ZoneInfo("Asia/Tokyo")
SIX = time(6, 0)
MON, TUE, WED, THU, FRI = (date(2026, 11, d) for d in (23, 24, 25, 26, 27))


def test_yesterday_is_due_from_processing_start_not_before() -> None:
    assert last_due_day(datetime(2026, 11, 26, 5, 59, tzinfo=TOKYO), SIX) == TUE
    assert last_due_day(datetime(2026, 11, 26, 6, 0, tzinfo=TOKYO), SIX) == WED
    assert last_due_day(datetime(2026, 11, 26, 21, 0, tzinfo=TOKYO), SIX) == WED


def test_a_fleet_down_for_days_runs_what_it_still_has_and_reports_what_expired() -> None:
    # Down from Tuesday night to Friday: Monday's and Tuesday's logs expired on the way,
    # Wednesday's is still there (a message arrived before the crash), Thursday saw nothing.
    plan = plan_catch_up(
        through=THU, recorded={MON, TUE, WED}, logged={WED}, completed=set(), scheduled=THU
    )
    assert plan == CatchUpPlan(run=(WED, THU), expired=(MON, TUE), settled=())


def test_dates_are_run_oldest_first_so_progress_builds_on_the_day_before() -> None:
    plan = plan_catch_up(THU, recorded={WED, MON, TUE}, logged={MON, TUE, WED}, completed=())
    assert plan.run == (MON, TUE, WED)


def test_a_processed_date_is_only_forgotten_and_an_unprocessed_one_runs() -> None:
    plan = plan_catch_up(THU, recorded={MON, TUE}, logged={MON, TUE}, completed={MON})
    assert plan == CatchUpPlan(run=(TUE,), expired=(), settled=(MON,))


def test_a_processed_date_whose_log_expired_is_not_reported() -> None:
    plan = plan_catch_up(THU, recorded={MON}, logged=(), completed={MON})
    assert plan == CatchUpPlan(run=(), expired=(), settled=(MON,))


def test_the_scheduled_date_runs_even_done_or_quiet() -> None:
    # Done: the pipeline itself then finds nothing to do, or only the report left to queue.
    assert plan_catch_up(THU, (), (), completed={THU}, scheduled=THU).run == (THU,)
    # No log: a quiet day still gets its short report.
    assert plan_catch_up(THU, (), (), (), scheduled=THU).run == (THU,)


def test_dates_not_yet_due_are_left_for_later() -> None:
    # Today's log is still growing; it is not due, nor expired.
    plan = plan_catch_up(WED, recorded={WED, THU, FRI}, logged={WED, THU}, completed=())
    assert plan == CatchUpPlan(run=(WED,), expired=(), settled=())


def test_without_records_there_is_nothing_to_do() -> None:
    assert plan_catch_up(THU, (), (), ()) == CatchUpPlan((), (), ())


def test_run_date_is_a_past_calendar_date() -> None:
    assert parse_run_date("2026-11-24", today=THU) == TUE
    assert parse_run_date(" 2026-11-25 ", today=THU) == WED


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("2026-13-01", "'2026-13-01' is not a date YYYY-MM-DD (e.g. 2026-11-25)"),
        ("yesterday", "'yesterday' is not a date YYYY-MM-DD"),
        ("2026-11-26", "2026-11-26 has not ended yet in the fleet's time zone (today is"),
        ("2027-01-01", "has not ended yet"),
    ],
)
def test_a_bad_run_date_says_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ValueError) as error:
        parse_run_date(text, today=THU)
    assert str(error.value).startswith("--date ")
    assert says in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["reception", "--date", "2026-11-24"], "--date and --force belong to the pipeline role"),
        (["pipeline", "--force"], "--force needs --date YYYY-MM-DD"),
    ],
)
def test_misplaced_pipeline_options_are_usage_errors(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    assert says in capsys.readouterr().err


def test_a_bad_date_is_one_line_and_runs_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for variable in Env:
        monkeypatch.delenv(variable, raising=False)
    for name, value in {**VALID, "POSTGRESQL_URL": "postgresql://localhost/none"}.items():
        monkeypatch.setenv(name, value)
    assert main(["pipeline", "--date", "2026-02-30"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"agentfleet: --date '2026-02-30' is not a date YYYY-MM-DD (e.g. {yesterday()})"
    ]


def yesterday() -> date:
    return datetime.now(TOKYO).date() - timedelta(days=1)
