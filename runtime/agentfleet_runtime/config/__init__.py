"""Configuration: the guide's environment variables, validated at start-up."""

from agentfleet_runtime.config.settings import ConfigurationError, Settings, load_settings

__all__ = ["ConfigurationError", "Settings", "load_settings"]
