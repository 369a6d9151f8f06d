import random
from collections import Counter

import pytest

from agentfleet_runtime.brain.phases import Phase
from agentfleet_runtime.brain.speech import (
    ActiveTask,
    SpeechPlan,
    SpeechSkip,
    plan_speech,
    speech_channel,
)
from agentfleet_runtime.brain.tasks import (
    TaskAction,
    TaskCommand,
    TaskCommandError,
    UpdateKind,
    build_task_command,
    confirmation,
    is_task_command,
    may_command_tasks,
    parse_task_command,
    plan_update,
    task_list,
)

ALL = ("spectra", "lynq", "paz")


def test_no_speech_in_standby_or_processing() -> None:
    rng = random.Random(1)
    for phase in (Phase.STANDBY, Phase.PROCESSING):
        assert speech_channel(phase, []) is None
        assert plan_speech(phase, [], ALL, {}, 1.0, rng) is SpeechSkip.QUIET_PHASE


def test_active_speaks_in_the_latest_task_channel_else_command_center() -> None:
    assert speech_channel(Phase.ACTIVE, []) == "command_center"
    tasks = [ActiveTask("creation", "アイデア", 1.0), ActiveTask("development", "API設計", 2.0)]
    assert speech_channel(Phase.ACTIVE, tasks) == "development"
    plan = plan_speech(Phase.ACTIVE, tasks, ALL, {}, 1.0, random.Random(1))
    assert isinstance(plan, SpeechPlan)
    assert plan.channel == "development"
    assert plan.task == tasks[1]


def test_free_speaks_in_the_lounge_without_tasks() -> None:
    plan = plan_speech(
        Phase.FREE, [ActiveTask("development", "x", 1)], ALL, {}, 1.0, random.Random(1)
    )
    assert isinstance(plan, SpeechPlan)
    assert (plan.channel, plan.task) == ("lounge", None)


def test_probability_gates_speech() -> None:
    rng = random.Random(7)
    plans = [plan_speech(Phase.FREE, [], ALL, {}, 0.33, rng) for _ in range(3000)]
    spoken = sum(isinstance(plan, SpeechPlan) for plan in plans)
    assert 0.29 < spoken / 3000 < 0.37
    assert {p for p in plans if not isinstance(p, SpeechPlan)} == {SpeechSkip.NOT_CHOSEN}
    assert plan_speech(Phase.FREE, [], ALL, {}, 0.0, rng) is SpeechSkip.NOT_CHOSEN
    assert plan_speech(Phase.FREE, [], (), {}, 1.0, rng) is SpeechSkip.NOT_CHOSEN


def test_speaker_rotates_with_anti_repeat() -> None:
    rng = random.Random(11)
    counts = Counter()
    for _ in range(3000):
        plan = plan_speech(Phase.ACTIVE, [], ALL, {"command_center": "spectra"}, 1.0, rng)
        assert isinstance(plan, SpeechPlan)
        counts[plan.persona] += 1
    # SPECTRA 40 × 0.1 = 4 against 30 + 30.
    assert counts["spectra"] / 3000 < 0.1


def test_typed_task_command_from_the_guide() -> None:
    command = parse_task_command('/task commit development "認証システム実装"')
    assert (command.action, command.channel, command.text) == (
        TaskAction.COMMIT,
        "development",
        "認証システム実装",
    )
    moved = parse_task_command("/task change creation 「アイデアブレスト」")
    assert (moved.action, moved.channel, moved.text) == (
        TaskAction.CHANGE,
        "creation",
        "アイデアブレスト",
    )
    assert parse_task_command("/task commit #lounge 雑談 しよう").text == "雑談 しよう"


def test_typed_done_and_list() -> None:
    assert parse_task_command("/task done") == TaskCommand(TaskAction.DONE)
    assert parse_task_command("/task done #development") == TaskCommand(
        TaskAction.DONE, "development"
    )
    assert parse_task_command("/task list") == TaskCommand(TaskAction.LIST)
    assert parse_task_command("/task LIST please") == TaskCommand(TaskAction.LIST)


@pytest.mark.parametrize(
    ("typed", "hint"),
    [
        ("/task", "操作を指定"),
        ("/task commit development", "足りない"),
        ('/task commit development "unterminated', "引用符"),
        ('/task start development "x"', "commit, change, done, list"),
        ('/task commit random "x"', "random"),
        ('/task commit development ""', "空"),
        ('/task commit development "\u200b\u200b"', "空"),
        ('/task change creation "\u3164"', "空"),
        (f'/task commit development "{"あ" * 201}"', "200文字"),
        ("/task done random", "random"),
        ("/task done development もう終わり", "done にはタスク内容はいらない"),
    ],
)
def test_bad_task_commands_get_a_helpful_reply(typed: str, hint: str) -> None:
    with pytest.raises(TaskCommandError) as error:
        parse_task_command(typed)
    assert hint in str(error.value)
    assert "使い方" in str(error.value)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(TaskCommandError) as error:
        build_task_command("commit", "random", "")
    text = str(error.value)
    assert "random" in text and "空" in text


DEV = ActiveTask("development", "認証システム実装", 10.0, "alice")
LOUNGE = ActiveTask("lounge", "雑談", 5.0, "bob")


def test_change_to_an_empty_channel_moves_the_latest_task() -> None:
    command = parse_task_command("/task change creation 「アイデアブレスト」")
    update = plan_update(command, [LOUNGE, DEV], 20.0, "carol")
    assert update.kind is UpdateKind.MOVED
    assert update.ended == DEV
    assert update.start == ActiveTask("creation", "アイデアブレスト", 20.0, "carol")
    text = confirmation(update, "carol")
    assert "#development" in text and "#creation" in text and "認証システム実装" in text
    assert "アイデアブレスト" in text


def test_change_in_a_channel_with_a_task_changes_it_in_place() -> None:
    update = plan_update(parse_task_command('/task change development "API設計"'), [DEV], 20, "a")
    assert (update.kind, update.ended, update.start and update.start.channel) == (
        UpdateKind.CHANGED,
        DEV,
        "development",
    )
    assert "「認証システム実装」→「API設計」" in confirmation(update, "a")


def test_change_with_no_task_anywhere_starts_one() -> None:
    update = plan_update(parse_task_command('/task change creation "ロゴ"'), [], 1.0, "a")
    assert (update.kind, update.ended) == (UpdateKind.STARTED, None)


def test_commit_ends_the_channels_previous_task() -> None:
    update = plan_update(parse_task_command('/task commit development "API設計"'), [DEV], 2, "a")
    assert (update.kind, update.ended) == (UpdateKind.REPLACED, DEV)
    assert "前のタスク「認証システム実装」はここで終了" in confirmation(update, "a")


def test_done_finishes_the_named_or_the_latest_task() -> None:
    named = plan_update(parse_task_command("/task done lounge"), [LOUNGE, DEV], 30.0, "a")
    assert (named.kind, named.ended, named.start) == (UpdateKind.DONE, LOUNGE, None)
    latest = plan_update(parse_task_command("/task done"), [LOUNGE, DEV], 30.0, "a")
    assert latest.ended == DEV
    assert "#development" in confirmation(latest, "a") and "完了" in confirmation(latest, "a")


def test_done_without_a_task_explains_and_lists() -> None:
    with pytest.raises(TaskCommandError) as error:
        plan_update(parse_task_command("/task done creation"), [DEV], 30.0, "a")
    assert "#creation に完了にするタスクが無い" in str(error.value)
    assert "#development「認証システム実装」" in str(error.value)


def test_task_list_follows_channel_order_and_names_who_set_it() -> None:
    assert task_list([LOUNGE, DEV]).splitlines()[1:] == [
        "・#development「認証システム実装」（alice）",
        "・#lounge「雑談」（bob）",
    ]
    assert "タスクは無い" in task_list([])


def test_task_role_limits_who_may_command() -> None:
    assert may_command_tasks((), None)
    assert may_command_tasks((1, 42), 42)
    assert not may_command_tasks((1,), 42)


def test_task_command_detection() -> None:
    assert is_task_command("/task commit x y")
    assert is_task_command("  /TASK")
    assert not is_task_command("/tasks are fun")
    assert not is_task_command("task commit")
