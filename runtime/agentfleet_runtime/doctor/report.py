"""What the doctor prints: one line per check, a ``fix:`` under each failure, a verdict.

A check that could not run because an earlier one failed (no valid token, no key) is
*skipped*, not failed: the person sees one failure per cause, and the fix of that one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    """The outcome of one check, as its mark."""

    PASSED = "✓"
    FAILED = "✗"
    SKIPPED = "–"


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the checklist; ``fix`` says exactly what to do when it failed."""

    section: str
    title: str
    status: Status
    detail: str
    fix: str = ""

    @property
    def failed(self) -> bool:
        """Whether this check makes the doctor exit non-zero."""
        return self.status is Status.FAILED


def passed(section: str, title: str, detail: str) -> Check:
    """A check that passed."""
    return Check(section, title, Status.PASSED, detail)


def failed(section: str, title: str, detail: str, fix: str) -> Check:
    """A check that failed, with the fix to print under it."""
    return Check(section, title, Status.FAILED, detail, fix)


def skipped(section: str, title: str, detail: str) -> Check:
    """A check that could not run (``detail`` says why); it does not fail the run."""
    return Check(section, title, Status.SKIPPED, detail)


def render(checks: Iterable[Check]) -> str:
    """The checklist grouped by section, in the order checks were made, and a verdict."""
    checks = list(checks)
    lines: list[str] = []
    section = None
    for check in checks:
        if check.section != section:
            section = check.section
            if lines:
                lines.append("")
            lines.append(section)
        lines.append(f"  {check.status.value} {check.title}: {check.detail}")
        if check.failed and check.fix:
            lines.append(f"      fix: {check.fix}")
    lines += ["", verdict(checks)]
    return "\n".join(lines)


def verdict(checks: Sequence[Check]) -> str:
    """The last line: how many checks failed, or that all passed."""
    failures = sum(c.failed for c in checks)
    skips = sum(c.status is Status.SKIPPED for c in checks)
    if failures:
        return f"{failures} check(s) failed; fix them from the top (later ones may follow)."
    if skips:
        return f"All {len(checks) - skips} checks that ran passed ({skips} skipped)."
    return f"All {len(checks)} checks passed."


def exit_code(checks: Iterable[Check]) -> int:
    """0 when nothing failed, 1 otherwise (scripts and Jobs can tell)."""
    return 1 if any(c.failed for c in checks) else 0
