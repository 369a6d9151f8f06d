"""Every benchmark still runs: its ``--quick`` form prints every figure it reports.

A benchmark nobody runs rots silently (an import gone, an API renamed, a report that no
longer prints a row), and the figures in docs/benchmarks.md can then no longer be re-taken
with the commands it gives. Each ``tests/bench/bench_*.py`` runs here as its own process,
as a person runs it, all at once to keep the wall time short. No figure is held to a
threshold: they are read by people, from the full runs on a quiet machine. The operator's
benchmark needs the local control plane and runs with the cluster tests
(``tests/cluster/test_bench_operator_quick.py``).
"""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.service

ROOT = Path(__file__).resolve().parents[2]
NUMBER = r"[\d,]+(?:\.\d+)?"
#: What each benchmark's report must contain: a pattern per figure (or row) it reports.
EXPECTED: dict[str, tuple[str, ...]] = {
    "bench_bus": (
        rf"fleet\s+inbox→reply ready\s+p50\s+{NUMBER} ms\s+p95\s+{NUMBER} ms",
        rf"peer\s+2-hop XADD→XREADGROUP p50\s+{NUMBER} ms",
        rf"ratio\s+fleet/peer\s+p50 {NUMBER}x\s+p95 {NUMBER}x",
    ),
    "bench_dedup": (
        r"## Pipeline",
        r"## Speech",
        r"## Sweep",
        r"## Quality",
        rf"\| ours: dedupe\(\), (exact scan|LSH) at this size \| {NUMBER} ms \| {NUMBER} \|",
        rf"\| peer \(a\) exact scan: each recent line, no index \| {NUMBER} ms \| 1\.00 \|",
        rf"\| peer \(b\) LSH everywhere: MinHashLSH, same signatures \| {NUMBER} ms \| {NUMBER} \|",
        # A sweep row timed by both proposers, then the largest size by LSH only.
        rf"\| {NUMBER} \| {NUMBER} ms \| {NUMBER} ms \| (exact scan|LSH) \| (exact scan|LSH) "
        rf"\| {NUMBER} \| {NUMBER} \|",
        rf"\| {NUMBER} \| — \| {NUMBER} ms \| — \| (exact scan|LSH) \| {NUMBER} \| — \|",
        rf"near-verbatim precision {NUMBER}",
    ),
    "bench_pipeline": (
        rf"pipeline\s+200 messages → {NUMBER} memories .* {NUMBER} Gemini requests",
        rf"report\s+queued\s+{NUMBER} s after the commit",
        rf"re-run\s+\w+ in\s+{NUMBER} ms, 0 more requests",
        rf"search\s+HNSW top-10 channel\s+p50\s+{NUMBER} ms",
        rf"recall@10 HNSW vs exact\s+{NUMBER}",
    ),
    "bench_idle_rss": (
        rf"^deployed\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}x$",
        rf"^light\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}x$",
        r"\[(MET|NOT MET)\] deployed: all-in-one idle RSS ≤ 150 MiB",
    ),
    "bench_e2e": (
        *(
            # Each bot's rows at every level: whole reply, overhead, ratio, requests.
            rf"^\s*{bot}\s+{people}\s+{NUMBER}s\s+\d+ \| (\s*{NUMBER}){{2}} \|"
            rf"(\s*{NUMBER}){{3}} \|\s+{NUMBER}\s+\d+\s+\d+ \|"
            for bot in ("all-in-one", "all-in-one-light", "per-role", "floor", "bare\\+sdk")
            for people in (1, 10, 50)
        ),
        rf"^\s*all-in-one\s+1\s+.*\|\s+{NUMBER}% \|",  # recall's share, measured in-process
        # Where the overhead is: before the Gemini request and after the answer, each
        # against the floor's (a figure for every request the world matched to a message).
        *(
            rf"^\s*{bot}\s+{people} \| (\s*[+-]?{NUMBER}){{3}} \|(\s*[+-]?{NUMBER}){{3}}$"
            for bot in ("all-in-one", "per-role", "floor", "bare\\+sdk")
            for people in (1, 50)
        ),
        # Two rounds: each one's ratio to the floor's, their median and the pooled one.
        *(
            rf"^\s*{bot}\s+{people} \| {NUMBER} {NUMBER}\s+\|\s+{NUMBER}\s+{NUMBER}$"
            for bot in ("all-in-one", "per-role")
            for people in (1, 10, 50)
        ),
        rf"four clients connected {NUMBER} MB",
        rf"RSS of the per-role processes after the load: reception {NUMBER}",
        r"\[(MET|NOT MET)\] all-in-one: ≤ 1\.05 Gemini requests per reply",
        r"\[(MET|NOT MET)\] all-in-one: recall ≤ 5% of the whole reply's p95",
        r"\[(MET|NOT MET)\] per-role: p95 overhead ≤ 1\.3x the floor's",
        # --trace: the in-process fleet's replies, stage by stage, and the floor's.
        r"^all-in-one: where [1-9]\d* replies spent their time",
        r"^\s+p50\s+p90\s+slowest 5 %, mean$",
        rf"^\s+router: record, route, queue\s+p50\s+{NUMBER}\s+p90\s+{NUMBER}\s+{NUMBER}$",
        rf"^\s+Gemini request \(model's time included\)\s+p50\s+{NUMBER}",
        r"^floor: where [1-9]\d* replies spent their time",
        rf"^\s+\(router starts → worker starts the job\)\s+p50\s+{NUMBER}\s+p90"
        rf"\s+{NUMBER}\s+{NUMBER}$",
    ),
}
#: Options a benchmark takes besides ``--quick``, so that what they print is checked too.
OPTIONS: dict[str, tuple[str, ...]] = {
    "bench_e2e": ("--trace", "--rounds", "2"),
}


async def run_quick(name: str) -> tuple[int, str]:
    """Run ``python -m tests.bench.<name> --quick`` (and its options); exit code and output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        f"tests.bench.{name}",
        "--quick",
        *OPTIONS.get(name, ()),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(300):
            output, _ = await process.communicate()
    except TimeoutError:
        process.kill()
        output, _ = await process.communicate()
        return -1, output.decode(errors="replace") + "\n(killed after 300 s)"
    return process.returncode or 0, output.decode(errors="replace")


def missing_figures(name: str, output: str) -> list[str]:
    """The expected patterns ``output`` does not contain."""
    return [p for p in EXPECTED[name] if not re.search(p, output, flags=re.MULTILINE)]


def test_every_benchmark_module_is_checked_here() -> None:
    benches = {path.stem for path in (ROOT / "tests" / "bench").glob("bench_*.py")}
    assert benches - set(EXPECTED) == {"bench_operator"}


async def test_every_quick_benchmark_runs_and_prints_its_figures() -> None:
    outputs = await asyncio.gather(*(run_quick(name) for name in EXPECTED))
    problems = []
    for name, (code, output) in zip(EXPECTED, outputs, strict=True):
        missing = missing_figures(name, output)
        if code != 0 or missing:
            problems.append(f"{name} exited {code}, missing {missing}:\n{output[-3000:]}")
    assert not problems, "\n\n".join(problems)
