"""Gemini: the adapter to the real API (and any Gemini-compatible server)."""
