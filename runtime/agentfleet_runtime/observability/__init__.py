"""Health, readiness, metrics and logs."""
