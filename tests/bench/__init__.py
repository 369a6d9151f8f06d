"""Benchmarks, run as modules (``python -m tests.bench.<name>``), not by pytest."""
