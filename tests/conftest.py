"""Shared fixtures: each module below starts one real local service."""

pytest_plugins = [
    "tests.fixtures.redis",
    "tests.fixtures.gemini",
    "tests.fixtures.fleet",
    "tests.fixtures.discord",
    "tests.fixtures.sandbox",
    "tests.fixtures.postgres",
]
