"""Wiring: builds the roles from the brain and the adapters, and runs them."""
