"""Memory: hot per-channel history and the day log in Redis; long-term memory in PostgreSQL."""
