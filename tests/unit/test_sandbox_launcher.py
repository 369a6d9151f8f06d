"""The sandbox's own settings: read from the environment, refused with a clear message."""

from __future__ import annotations

import pytest

from agentfleet_sandbox.launcher import DEFAULT_THINKING_SECONDS, THINKING_ENV, thinking_seconds


def test_the_model_stand_in_thinks_like_a_fast_model_unless_told() -> None:
    assert thinking_seconds({}) == DEFAULT_THINKING_SECONDS
    assert thinking_seconds({THINKING_ENV: "0"}) == 0
    assert thinking_seconds({THINKING_ENV: " 2.5 "}) == 2.5


@pytest.mark.parametrize("raw", ["fast", "-1", "61", "nan", "inf"])
def test_a_bad_thinking_time_is_refused_naming_the_variable(raw: str) -> None:
    with pytest.raises(ValueError) as caught:
        thinking_seconds({THINKING_ENV: raw})
    assert THINKING_ENV in str(caught.value) and repr(raw) in str(caught.value)
