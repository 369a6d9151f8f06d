"""Configuration: the environment variables of docs/operations.md, validated at start-up."""

from agentfleet_runtime.config.settings import (
    ConfigurationError,
    Settings,
    load_settings,
    read_settings,
)

__all__ = ["ConfigurationError", "Settings", "load_settings", "read_settings"]
