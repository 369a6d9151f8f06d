"""The dedup benchmark still runs: ``--quick`` prints every section with its figures.

A benchmark nobody runs rots silently (an import gone, an API renamed); this keeps it in
the suite at the cost of a second or two. No figure is held to a threshold: they are read
by people, on a quiet machine, from the full run (docs/benchmarks.md).
"""

import re

import pytest

from tests.bench import bench_dedup


def test_quick_run_prints_every_section_with_figures(capsys: pytest.CaptureFixture[str]) -> None:
    bench_dedup.main(["--quick"])
    out = capsys.readouterr().out
    for heading in ("## Pipeline", "## Speech", "## Bulk", "## Quality"):
        assert heading in out
    # Per-call times for ours and the peer in both workloads, and a bulk rate.
    assert len(re.findall(r"\| \d+\.\d{3} ms \|", out)) >= 4
    assert re.search(r"\| dedupe\(\) \| [\d.]+ \| [\d,]+ \|", out)
