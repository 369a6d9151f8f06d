"""The operations guide says what every dashboard panel shows.

A panel added to a dashboard without a line in docs/operations.md leaves whoever is on call
guessing what it means; this names the panels the guide is missing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.monitoring.promql import DASHBOARDS, ROOT, dashboard, panels

GUIDE = ROOT / "docs" / "operations.md"


def described_panels() -> set[str]:
    """The first column of the tables under "What the panels show"."""
    section = GUIDE.read_text().split("\n### What the panels show\n", 1)[1].split("\n## ", 1)[0]
    return {
        line.split("|")[1].strip()
        for line in section.splitlines()
        if line.startswith("| ") and not line.startswith("| panel ")
    }


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_the_operations_guide_says_what_every_panel_shows(path: Path) -> None:
    titles = {p["title"] for p in panels(dashboard(path)) if p["type"] != "row"}
    assert titles, f"{path.name} has no panels"
    assert sorted(titles - described_panels()) == []
