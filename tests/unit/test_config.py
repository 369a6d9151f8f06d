import pytest

from agentfleet_runtime.config import ConfigurationError, load_settings
from agentfleet_runtime.contract import Env, Role

VALID = {
    "ENVIRONMENT": "test",
    "DISCORD_RECEPTION_TOKEN": "reception-token-value",
    "DISCORD_SPECTRA_TOKEN": "spectra-token-value",
    "DISCORD_LYNQ_TOKEN": "lynq-token-value",
    "DISCORD_PAZ_TOKEN": "paz-token-value",
    "GEMINI_API_KEY": "gemini-key-value",
    "COMMAND_CENTER_CHANNEL_ID": "1",
    "DEVELOPMENT_CHANNEL_ID": "2",
    "CREATION_CHANNEL_ID": "3",
    "LOUNGE_CHANNEL_ID": "4",
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in [*Env, "GOOGLE_GEMINI_BASE_URL"]:
        monkeypatch.delenv(name, raising=False)
    for name, value in VALID.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_valid_configuration_and_the_guide_defaults(env: pytest.MonkeyPatch) -> None:
    settings = load_settings(Role.ALL_IN_ONE, env_file=None)
    assert settings.HEALTH_CHECK_PORT == 8000
    assert settings.LOG_FILE == "logs/discord_agent.log"
    assert (settings.speech_interval_seconds, settings.speech_probability) == (10.0, 1.0)
    env.setenv("ENVIRONMENT", "production")
    production = load_settings(Role.ALL_IN_ONE, env_file=None)
    assert (production.speech_interval_seconds, production.speech_probability) == (300.0, 0.33)
    assert production.FLEET_TIMEZONE == "Asia/Tokyo"
    assert production.channel_ids == {
        "command_center": 1,
        "development": 2,
        "creation": 3,
        "lounge": 4,
    }


def test_speech_overrides(env: pytest.MonkeyPatch) -> None:
    env.setenv("AUTONOMOUS_SPEECH_INTERVAL_SECONDS", "60")
    env.setenv("AUTONOMOUS_SPEECH_PROBABILITY", "0.5")
    settings = load_settings(Role.ALL_IN_ONE, env_file=None)
    assert (settings.speech_interval_seconds, settings.speech_probability) == (60.0, 0.5)


def test_unknown_environment_is_an_error_not_a_fallback(env: pytest.MonkeyPatch) -> None:
    env.setenv("ENVIRONMENT", "staging")
    with pytest.raises(ConfigurationError) as error:
        load_settings(Role.ALL_IN_ONE, env_file=None)
    assert "ENVIRONMENT" in str(error.value)
    assert "'test'" in str(error.value) and "'production'" in str(error.value)


def test_every_problem_is_listed_in_one_message(env: pytest.MonkeyPatch) -> None:
    env.delenv("DISCORD_LYNQ_TOKEN")
    env.delenv("GEMINI_API_KEY")
    env.setenv("HEALTH_CHECK_PORT", "eighty")
    env.setenv("FLEET_TIMEZONE", "Mars/Olympus")
    env.setenv("MEETING_START", "7am")
    env.setenv("AUTONOMOUS_SPEECH_PROBABILITY", "1.5")
    with pytest.raises(ConfigurationError) as error:
        load_settings(Role.ALL_IN_ONE, env_file=None)
    text = str(error.value)
    for name in ["HEALTH_CHECK_PORT", "FLEET_TIMEZONE", "MEETING_START", "AUTONOMOUS_SPEECH"]:
        assert name in text
    assert "DISCORD_LYNQ_TOKEN is not set" in error.value.problems
    assert "GEMINI_API_KEY is not set" in error.value.problems
    assert len(error.value.problems) == 6
    assert text.startswith("invalid configuration (6 problems)")


def test_roles_need_only_their_own_settings(env: pytest.MonkeyPatch) -> None:
    for name in ["DISCORD_RECEPTION_TOKEN", "DISCORD_SPECTRA_TOKEN", "DISCORD_PAZ_TOKEN"]:
        env.delenv(name)
    settings = load_settings(Role.PERSONA, persona="lynq", env_file=None)
    assert settings.token("lynq") == "lynq-token-value"
    with pytest.raises(ConfigurationError, match="DISCORD_PAZ_TOKEN"):
        load_settings(Role.PERSONA, persona="paz", env_file=None)
    with pytest.raises(ConfigurationError, match="POSTGRESQL_URL"):
        load_settings(Role.MIGRATE, env_file=None)


def test_invalid_values_are_not_echoed(env: pytest.MonkeyPatch) -> None:
    # A token pasted into the wrong variable must not end up in the error (and so the logs).
    env.setenv("HEALTH_CHECK_PORT", "MTIzNDU2Nzg5.secret-token")
    with pytest.raises(ConfigurationError) as error:
        load_settings(Role.ALL_IN_ONE, env_file=None)
    assert "secret-token" not in str(error.value)


def test_secrets_do_not_show_in_repr(env: pytest.MonkeyPatch) -> None:
    settings = load_settings(Role.ALL_IN_ONE, env_file=None)
    assert "gemini-key-value" not in repr(settings)
    assert "spectra-token-value" not in repr(settings)


def test_dotenv_file_is_read(env: pytest.MonkeyPatch, tmp_path: pytest.TempPathFactory) -> None:
    env.delenv("GEMINI_API_KEY")
    dotenv = tmp_path / ".env"  # type: ignore[operator]
    dotenv.write_text("GEMINI_API_KEY=from-dotenv\nLOG_LEVEL=DEBUG\n")
    settings = load_settings(Role.ALL_IN_ONE, env_file=str(dotenv))
    assert settings.GEMINI_API_KEY is not None
    assert settings.GEMINI_API_KEY.get_secret_value() == "from-dotenv"
    assert settings.LOG_LEVEL == "DEBUG"


def test_duplicate_channel_ids_are_rejected(env: pytest.MonkeyPatch) -> None:
    env.setenv("LOUNGE_CHANNEL_ID", "1")
    with pytest.raises(ConfigurationError, match="different channels"):
        load_settings(Role.ALL_IN_ONE, env_file=None)


def test_empty_values_are_unset_but_an_empty_log_file_means_stdout_only(
    env: pytest.MonkeyPatch,
) -> None:
    # A copied .env.example leaves optional values empty; a container sets LOG_FILE="".
    env.setenv("DISCORD_GUILD_ID", "")
    env.setenv("LOG_FILE", "")
    settings = load_settings(Role.ALL_IN_ONE, env_file=None)
    assert settings.DISCORD_GUILD_ID is None
    assert settings.LOG_FILE == ""
