import random
from collections import Counter

import pytest

from agentfleet_runtime.brain.phases import Phase
from agentfleet_runtime.brain.speech import ActiveTask, plan_speech, speech_channel
from agentfleet_runtime.brain.tasks import (
    TaskAction,
    TaskCommandError,
    build_task_command,
    is_task_command,
    parse_task_command,
)

ALL = ("spectra", "lynq", "paz")


def test_no_speech_in_standby_or_processing() -> None:
    rng = random.Random(1)
    for phase in (Phase.STANDBY, Phase.PROCESSING):
        assert speech_channel(phase, []) is None
        assert plan_speech(phase, [], ALL, {}, 1.0, rng) is None


def test_active_speaks_in_the_latest_task_channel_else_command_center() -> None:
    assert speech_channel(Phase.ACTIVE, []) == "command_center"
    tasks = [ActiveTask("creation", "アイデア", 1.0), ActiveTask("development", "API設計", 2.0)]
    assert speech_channel(Phase.ACTIVE, tasks) == "development"
    plan = plan_speech(Phase.ACTIVE, tasks, ALL, {}, 1.0, random.Random(1))
    assert plan is not None
    assert plan.channel == "development"
    assert plan.task == tasks[1]


def test_free_speaks_in_the_lounge_without_tasks() -> None:
    plan = plan_speech(
        Phase.FREE, [ActiveTask("development", "x", 1)], ALL, {}, 1.0, random.Random(1)
    )
    assert plan is not None
    assert (plan.channel, plan.task) == ("lounge", None)


def test_probability_gates_speech() -> None:
    rng = random.Random(7)
    spoken = sum(plan_speech(Phase.FREE, [], ALL, {}, 0.33, rng) is not None for _ in range(3000))
    assert 0.29 < spoken / 3000 < 0.37
    assert plan_speech(Phase.FREE, [], ALL, {}, 0.0, rng) is None


def test_speaker_rotates_with_anti_repeat() -> None:
    rng = random.Random(11)
    counts = Counter()
    for _ in range(3000):
        plan = plan_speech(Phase.ACTIVE, [], ALL, {"command_center": "spectra"}, 1.0, rng)
        assert plan is not None
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


@pytest.mark.parametrize(
    ("typed", "hint"),
    [
        ("/task", "足りない"),
        ('/task commit development "unterminated', "引用符"),
        ('/task start development "x"', "commit か change"),
        ('/task commit random "x"', "random"),
        ('/task commit development ""', "空"),
        (f'/task commit development "{"あ" * 201}"', "200文字"),
    ],
)
def test_bad_task_commands_get_a_helpful_reply(typed: str, hint: str) -> None:
    with pytest.raises(TaskCommandError) as error:
        parse_task_command(typed)
    assert hint in str(error.value)
    assert "使い方" in str(error.value)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(TaskCommandError) as error:
        build_task_command("start", "random", "")
    text = str(error.value)
    assert "commit か change" in text and "random" in text and "空" in text


def test_task_command_detection() -> None:
    assert is_task_command("/task commit x y")
    assert is_task_command("  /TASK")
    assert not is_task_command("/tasks are fun")
    assert not is_task_command("task commit")
