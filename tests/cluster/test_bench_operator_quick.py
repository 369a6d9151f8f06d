"""The operator's benchmark still runs: ``--quick`` prints its table for 1 and 5 fleets.

The other benchmarks' quick forms run in ``tests/service/test_bench_quick.py``; this one
starts control planes of its own from the binaries ``scripts/cluster.sh`` builds, so it
runs with the cluster tests. No figure is held to a threshold.
"""

from __future__ import annotations

import re
import subprocess
import sys

from tests.cluster.kube import ROOT


def test_the_quick_operator_benchmark_prints_a_figure_per_size_for_every_measure() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.bench.bench_operator", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "| measure | 1 fleets | 5 fleets |" in result.stdout, result.stdout[-3000:]
    rows = re.findall(r"^\| (?!measure|---)(.+?) \| (.*) \| (.*) \|$", result.stdout, re.M)
    assert len(rows) >= 5, result.stdout[-3000:]
    for name, *cells in rows:
        assert all(re.search(r"\d", cell) for cell in cells), f"{name} has no figure: {cells}"
