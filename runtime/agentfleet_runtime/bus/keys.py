"""Every Redis key of a fleet, in one place.

All keys share the ``af:{fleet}:`` prefix so that several fleets can share one Redis and a
person inspecting Redis with ``redis-cli --scan`` sees at once what belongs to whom.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FleetKeys:
    """Names of the Redis keys of one fleet."""

    fleet: str

    @property
    def prefix(self) -> str:
        """The prefix shared by all of this fleet's keys."""
        return f"af:{self.fleet}:"

    @property
    def inbox(self) -> str:
        """Stream of every message Reception saw, consumed by the router group."""
        return self.prefix + "inbox"

    def queue(self, persona: str) -> str:
        """Stream of jobs for one persona, consumed by that persona's workers."""
        return f"{self.prefix}queue:{persona}"

    def routed(self, message_id: int) -> str:
        """Run-once marker: this Discord message is recorded (and routed, if it was routed)."""
        return f"{self.prefix}routed:{message_id}"

    def done(self, job_id: str) -> str:
        """Run-once marker: this job's post has been made."""
        return f"{self.prefix}done:{job_id}"

    def hot(self, channel_id: int) -> str:
        """Stream of one channel's last 24 hours, the context of replies."""
        return f"{self.prefix}hot:{channel_id}"

    def day(self, day: str) -> str:
        """Stream of every message of one local date (YYYY-MM-DD): the pipeline's input."""
        return f"{self.prefix}day:{day}"

    @property
    def day_logs(self) -> str:
        """Set of dates whose day log was written and which the pipeline has not settled.

        It outlives the logs (no expiry), so a date whose log expired before the pipeline
        ran is still known, and reported, rather than missing without a trace.
        """
        return self.prefix + "day-logs"

    @property
    def tasks(self) -> str:
        """Hash: channel name → the channel's current task (JSON)."""
        return self.prefix + "tasks"

    @property
    def last_speakers(self) -> str:
        """Hash: channel name → the persona that spoke last there."""
        return self.prefix + "last-speaker"

    def event(self, marker: str) -> str:
        """Run-once marker of a daily event on one date."""
        return f"{self.prefix}event:{marker}"

    def said(self, persona: str) -> str:
        """List of a persona's recent autonomous utterances, for repeat detection."""
        return f"{self.prefix}said:{persona}"

    @property
    def bots(self) -> str:
        """Hash: bot (reception or a persona) → its Discord user id, written at login."""
        return self.prefix + "bots"

    @property
    def pipeline_outcome(self) -> str:
        """Hash: the 06:00 pipeline's last completed run and the report's last post.

        Written by the pipeline (a short-lived Job in Kubernetes, never scraped) and by the
        worker that posts the report; Reception serves it on /metrics.
        """
        return self.prefix + "pipeline-outcome"

    @property
    def rate_limit(self) -> str:
        """Sorted set of recent Gemini call times, shared by every process of the fleet."""
        return self.prefix + "gemini-calls"

    @property
    def recall_turn(self) -> str:
        """String, expiring: whose turn it is to make the fleet's recall embedding request."""
        return self.prefix + "recall-turn"
