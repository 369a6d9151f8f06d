"""Tests of `agentfleet doctor` against the local servers and real stores."""
