"""Near-duplicate detection benchmark: the product's two workloads, a size sweep, quality.

Run: ``.venv/bin/python -m tests.bench.bench_dedup [--quick]``

Ours is :func:`dedupe` and :class:`NearDuplicateIndex` as the fleet calls them: candidates
by an exact scan of every kept text below :data:`LSH_MIN_TEXTS` texts, by datasketch
MinHash LSH from it on (the index, whose callers hold tens of texts, always scans); every
candidate decided by ``verified_similarity`` (size bound, same facts, exact Jaccard).

Peers, same run, same inputs:

- **(a) exact scan everywhere**: each text compared with every kept text (pipeline) or
  every recent line (speech) by ``verified_similarity``, written out here without the
  index. Its result is the reference: where another variant differs, LSH missed a pair.
- **(b) LSH everywhere**: datasketch's ``MinHashLSH`` fed the same signatures
  (datasketch ``MinHash``, 25 bands of 5 rows) whatever the size: ``dedupe(...,
  candidates="lsh")``, ``NearDuplicateIndex(num_perm=128)``. This was the path at every
  size before the exact scan became the default.

Workloads, as the product runs them:

1. **pipeline**: :func:`dedupe` of one day's extracted memories (``--memories``, 300 by
   default: a busy day, the 06:00 pipeline's input including what is already stored for
   the date). About a fifth are the same fact extracted again in other words or notation,
   a tenth state a different fact with the same wording (a new number, person, module).
2. **speech**: one autonomous utterance against the persona's 20 recent lines, exactly
   what the persona worker does per draft: a fresh :class:`NearDuplicateIndex`, 20
   ``add()`` and one ``find()``. A third of the drafts repeat one of the 20 lines.
3. **sweep**: :func:`dedupe` of generated chat messages (about a quarter near-duplicates)
   at growing sizes (``--sizes``), by each proposer (``candidates="exact"`` and
   ``"lsh"``), so the crossover :data:`LSH_MIN_TEXTS` comes from is visible; the largest
   size (``--lsh-only``, 50,000) by LSH only, where the scan's quadratic cost is minutes.
   No caller has thousands of texts; it shows where the limits are.

Timing: every variant best of 3 rounds, after a warm-up call; a round runs every case of
the workload (``--days`` days of memories, ``--calls`` drafts, each with its own 20 lines,
or one input of the sweep) and the figure is the round's time divided by its calls.
"fingerprints alone" is :func:`fingerprint` (normalisation, shingles, fact tokens) of the
same texts: the part every variant shares.

Quality: per kind of ``tests/data/dedup_pairs_ja.jsonl``, the share of pairs judged
duplicates (recall for duplicate kinds, merge rate for ``different_fact``), near-verbatim
precision, and the same with the fact rules off (Jaccard alone) for comparison.

``--quick`` runs small inputs (figures printed, nothing asserted) so the suite can keep
this script from rotting.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from agentfleet_runtime.dedup import (
    LSH_MIN_TEXTS,
    NearDuplicateIndex,
    dedupe,
    fingerprint,
    lsh_params,
    verified_similarity,
)
from agentfleet_runtime.dedup.normalize import Fingerprint
from tests.bench.gen_dedup_pairs import BASE, DIFFERENT_FACTS, NOTATION_OPS, rephrase

DATA = Path(__file__).resolve().parents[1] / "data" / "dedup_pairs_ja.jsonl"
NEAR_VERBATIM = ("exact", "notation")
THRESHOLD = 0.8
NUM_PERM = 128
RECENT_LINES = 20
REPEATS = 3

T = TypeVar("T")

SUBJECTS = [
    "認証システム",
    "API設計",
    "ログイン画面",
    "決済モジュール",
    "通知機能",
    "検索API",
    "ユーザー登録",
    "管理画面",
    "デプロイ手順",
    "CI",
    "Redisのキュー",
    "データベース",
    "ロゴ",
    "キャラクター設定",
    "ブレストの案",
    "ドキュメント",
    "負荷テスト",
    "UIの文言",
]
PREDICATES = [
    "のレビューを進めよう",
    "の進捗を確認すると、予定より少し遅れている構造だ",
    "の案をもう少し考えてみるね",
    "でエラーが出てるみたい",
    "はだいたい終わったよ",
    "の優先度を上げたほうがいいかもしれない",
    "について相談したいんだけど、いい？",
    "のテストを追加しておいた",
    "の仕様をまとめておくね",
    "、いい感じになってきたよね",
    "を見直すと、設定の読み込み順に問題がある構造だ",
    "の担当を決めておこう",
]
TAILS = [
    "",
    "",
    "",
    "！",
    "。",
    "よ",
    "ね",
    " 👍",
    "〜",
    "（{}日まで）",
    "、{}件残ってる",
    "、{}%くらい",
    " <@123456789012345678>",
    " https://github.com/agentfleet/x/pull/{}",
]
OPENERS = [
    "",
    "",
    "",
    "えっと、",
    "そういえば",
    "あ、",
    "LYNQ、",
    "PAZ、",
    "SPECTRA、",
    "みんな、",
    "念のため",
    "今日は",
]
CONNECTORS = ["。あと、", "けど、", "ので、", "。それと", "、ついでに"]

# Extracted memories are one self-contained sentence each: who did or decided what.
WHO = ["SPECTRA", "LYNQ", "PAZ", "田中さん", "佐藤さん", "鈴木さん", "チーム"]
MEMORY_FACTS = [
    "{who}は{topic}のレビューを{n}日までに終えると決めた",
    "{who}が{topic}のテストを{n}件追加した",
    "{topic}で{n}件のエラーが見つかり、{who}が調査を始めた",
    "{topic}の進捗は{n}%で、予定より少し遅れていると{who}が報告した",
    "{who}が{topic}の担当になった",
    "{who}は{topic}の仕様をドキュメントにまとめた",
    "{topic}の設定の読み込み順に問題があると{who}が指摘した",
    "{who}は次のスプリントで{topic}の優先度を上げることを提案した",
    "{topic}のデプロイは{n}時に行うことになった",
    "{who}は{topic}の案を{n}つ出した",
]


def _sentence(rng: random.Random) -> str:
    """One fresh chat line: opener, one or two clauses, a tail (often with a number)."""
    text = rng.choice(OPENERS) + rng.choice(SUBJECTS) + rng.choice(PREDICATES)
    if rng.random() < 0.5:
        text += rng.choice(CONNECTORS) + rng.choice(SUBJECTS) + rng.choice(PREDICATES)
    return text + rng.choice(TAILS).format(rng.randint(1, 999))


def _variant(text: str, rng: random.Random) -> str:
    """The same line again: a notation variant (60 %) or a small rephrase."""
    if rng.random() < 0.6:
        return rng.choice(NOTATION_OPS)(text, rng)
    try:
        return rephrase(text, rng)
    except AssertionError:
        return text


def generate_messages(count: int, seed: int = 7) -> list[str]:
    """Return ``count`` chat messages, about 25 % near-duplicates of earlier ones.

    Fresh lines are mostly composed from clause banks (so most are unique, as real traffic
    is), some are the labelled set's base lines or different-fact templates; repeats are a
    notation variant or a rephrase of one of the last 2,000 messages.
    """
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < count:
        roll = rng.random()
        if out and roll < 0.25:
            out.append(_variant(rng.choice(out[-2000:]), rng))
        elif roll < 0.3:
            out.append(rng.choice(BASE))
        elif roll < 0.35:
            template, values = rng.choice(DIFFERENT_FACTS)
            out.append(template.format(*rng.choice(values).split("|")))
        else:
            out.append(_sentence(rng))
    return out


def generate_memories(count: int, rng: random.Random) -> list[str]:
    """Return one day's ``count`` extracted memories.

    About 20 % restate an earlier memory (the same fact extracted from another chunk of the
    day, in other notation or words), 10 % change one slot of an earlier one (a different
    fact that must be kept), the rest are fresh.
    """
    slots: list[tuple[str, str, str, int]] = []
    out: list[str] = []
    while len(out) < count:
        roll = rng.random()
        if out and roll < 0.2:
            out.append(_variant(rng.choice(out), rng))
            continue
        if slots and roll < 0.3:
            template, who, topic, n = rng.choice(slots)
            if "{n}" in template and rng.random() < 0.6:
                n = rng.randint(1, 30)
            else:
                who = rng.choice(WHO)
        else:
            template = rng.choice(MEMORY_FACTS)
            who, topic, n = rng.choice(WHO), rng.choice(SUBJECTS), rng.randint(1, 30)
        slots.append((template, who, topic, n))
        out.append(template.format(who=who, topic=topic, n=n))
    return out


def generate_drafts(count: int, rng: random.Random) -> list[tuple[list[str], str]]:
    """Return ``count`` (20 recent lines of a persona, new draft) cases.

    A third of the drafts repeat one of the recent lines (a variant of it), the others
    are fresh lines from the same clause banks, which often share a clause with a recent
    line: the near misses LSH has to propose and verification has to reject.
    """
    cases = []
    for _ in range(count):
        recent = [
            rng.choice(BASE) if rng.random() < 0.2 else _sentence(rng) for _ in range(RECENT_LINES)
        ]
        draft = _variant(rng.choice(recent), rng) if rng.random() < 1 / 3 else _sentence(rng)
        cases.append((recent, draft))
    return cases


def dedupe_exact(texts: Sequence[str]) -> list[int]:
    """Peer (a): :func:`dedupe`'s decision against every kept text, no index, no sketch."""
    kept: list[Fingerprint] = []
    keep: list[int] = []
    for i, text in enumerate(texts):
        fp = fingerprint(text)
        if not any(verified_similarity(fp, k, THRESHOLD) is not None for k in kept):
            kept.append(fp)
            keep.append(i)
    return keep


def speech_index(recent: Sequence[str], draft: str, num_perm: int | None = None) -> list[int]:
    """What the persona worker does per draft: index the recent lines, find the draft.

    ``num_perm=None`` is ours (the index scans every line), a number peer (b) (LSH).
    """
    index: NearDuplicateIndex[int] = NearDuplicateIndex(THRESHOLD, num_perm)
    for number, line in enumerate(recent):
        index.add(number, line)
    return sorted(match.key for match in index.find(draft))


def speech_exact(recent: Sequence[str], draft: str) -> list[int]:
    """Peer (a): the draft against every recent line by the same decision, no index."""
    fp = fingerprint(draft)
    return [
        number
        for number, line in enumerate(recent)
        if verified_similarity(fp, fingerprint(line), THRESHOLD) is not None
    ]


def best_of(fn: Callable[[], T], repeat: int = REPEATS) -> tuple[T, float]:
    """Run ``fn`` ``repeat`` times; return its (last) result and the best wall time in s."""
    best = float("inf")
    result = fn()  # warm-up: imports, permutations, caches
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return result, best


def fingerprint_only(texts: Sequence[str]) -> None:
    """Fingerprint every text and keep nothing (kept objects would add garbage-collector
    passes that the workloads, which drop their fingerprints, do not pay)."""
    for text in texts:
        fingerprint(text)


def _print_per_call(rows: list[tuple[str, float]], calls: int, peer_s: float) -> None:
    print("| variant | per call | ÷ peer (a) |")
    print("|---|---:|---:|")
    for name, secs in rows:
        print(f"| {name} | {secs / calls * 1e3:.3f} ms | {secs / peer_s:.2f} |")


def _differ(results: list[T], reference: list[T]) -> int:
    """In how many cases a variant's result is not the reference's."""
    return sum(a != b for a, b in zip(results, reference, strict=True))


def bench_pipeline(memories: int, days: int) -> None:
    """Print the per-day time of dedupe() over one day's memories, and the peers'."""
    rng = random.Random(11)
    day_texts = [generate_memories(memories, rng) for _ in range(days)]
    ours, ours_s = best_of(lambda: [dedupe(texts) for texts in day_texts])
    exact, exact_s = best_of(lambda: [dedupe_exact(texts) for texts in day_texts])
    lsh, lsh_s = best_of(lambda: [dedupe(texts, candidates="lsh") for texts in day_texts])
    _, fp_s = best_of(lambda: [fingerprint_only(texts) for texts in day_texts])
    kept = sum(len(k) for k in exact)
    path = "exact scan" if memories < LSH_MIN_TEXTS else "LSH"
    print(f"\n## Pipeline: dedupe() of one day's {memories} memories ({days} days, best of 3)")
    _print_per_call(
        [
            (f"ours: dedupe(), {path} at this size", ours_s),
            ("peer (a) exact scan: every kept memory, no index", exact_s),
            ("peer (b) LSH everywhere: MinHashLSH, same signatures", lsh_s),
            ("fingerprints alone (shared by all)", fp_s),
        ],
        days,
        exact_s,
    )
    print(
        f"kept {kept / days:.1f} of {memories} per day; days on which a variant keeps other "
        f"memories than peer (a): ours {_differ(ours, exact)}, peer (b) {_differ(lsh, exact)}"
    )


def bench_speech(calls: int) -> None:
    """Print the per-draft time of the persona worker's repeat check, and the peers'."""
    cases = generate_drafts(calls, random.Random(13))
    ours, ours_s = best_of(lambda: [speech_index(recent, draft) for recent, draft in cases])
    exact, exact_s = best_of(lambda: [speech_exact(recent, draft) for recent, draft in cases])
    lsh, lsh_s = best_of(lambda: [speech_index(recent, draft, NUM_PERM) for recent, draft in cases])
    _, fp_s = best_of(lambda: [fingerprint_only([*recent, draft]) for recent, draft in cases])
    repeats = sum(bool(found) for found in exact)
    print(f"\n## Speech: one draft against {RECENT_LINES} recent lines ({calls} drafts, best of 3)")
    _print_per_call(
        [
            ("ours: NearDuplicateIndex, 20 add() + find(), exact scan", ours_s),
            ("peer (a) exact scan: each recent line, no index", exact_s),
            ("peer (b) LSH everywhere: NearDuplicateIndex(num_perm=128)", lsh_s),
            ("fingerprints alone (shared by all)", fp_s),
        ],
        calls,
        exact_s,
    )
    print(
        f"repeats found in {repeats} of {calls} drafts; drafts on which a variant finds other "
        f"lines than peer (a): ours {_differ(ours, exact)}, peer (b) {_differ(lsh, exact)}"
    )


def _sweep_row(count: int, exact_too: bool) -> str:
    """One row of the sweep: dedupe() of ``count`` messages by LSH, and by the scan too."""
    messages = generate_messages(count)
    ours = "exact scan" if count < LSH_MIN_TEXTS else "LSH"
    lsh, lsh_s = best_of(lambda: dedupe(messages, candidates="lsh"))
    if not exact_too:
        return f"| {count:,} | — | {lsh_s * 1e3:,.1f} ms | — | {ours} | {len(lsh):,} | — |"
    exact, exact_s = best_of(lambda: dedupe(messages, candidates="exact"))
    faster = "exact scan" if exact_s < lsh_s else "LSH"
    return (
        f"| {count:,} | {exact_s * 1e3:,.1f} ms | {lsh_s * 1e3:,.1f} ms | {faster} | {ours} "
        f"| {len(exact):,} | {len(set(exact) ^ set(lsh))} |"
    )


def bench_sweep(sizes: Sequence[int], lsh_only: int) -> None:
    """Print dedupe() by each proposer over growing inputs: where LSH starts to pay."""
    print(
        f"\n## Sweep: dedupe() of generated chat messages by each proposer (best of 3); "
        f"ours scans below LSH_MIN_TEXTS = {LSH_MIN_TEXTS:,} texts, LSH from it on"
    )
    print("| texts | exact scan | LSH | faster | ours uses | kept | decisions differ |")
    print("|---:|---:|---:|---|---|---:|---:|")
    for count in sizes:
        print(_sweep_row(count, exact_too=True))
    print(_sweep_row(lsh_only, exact_too=False))
    messages = generate_messages(lsh_only)
    _, fp_s = best_of(lambda: fingerprint_only(messages))
    print(f"fingerprints alone of {lsh_only:,} messages: {fp_s * 1e3:,.1f} ms")


def quality() -> None:
    """Print the quality table over the labelled set, with and without the fact rules."""
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
    for check_facts in (True, False):
        judged: dict[str, list[bool]] = {}
        for row in rows:
            index: NearDuplicateIndex[int] = NearDuplicateIndex(check_facts=check_facts)
            index.add(0, row["a"])
            judged.setdefault(row["kind"], []).append(bool(index.find(row["b"])))
        label = "with fact rules (default)" if check_facts else "Jaccard only (check_facts=False)"
        print(f"\n## Quality on {DATA.name} ({len(rows)} pairs), {label}")
        print("| kind | pairs | judged duplicate | rate |")
        print("|---|---:|---:|---:|")
        for kind in ("exact", "notation", "rephrase", "paraphrase", "different_fact"):
            hits = judged[kind]
            rate = sum(hits) / len(hits)
            name = "merge rate" if kind == "different_fact" else "recall"
            print(f"| {kind} | {len(hits)} | {sum(hits)} | {name} {rate:.3f} |")
        tp = sum(sum(judged[k]) for k in NEAR_VERBATIM)
        fp = sum(judged["different_fact"])
        positives = sum(len(judged[k]) for k in NEAR_VERBATIM)
        precision = tp / (tp + fp) if tp + fp else 1.0
        print(
            f"near-verbatim precision {precision:.3f} (TP {tp}, FP {fp} from different_fact), "
            f"recall {tp / positives:.3f}"
        )


def main(argv: Sequence[str] | None = None) -> None:
    """Parse arguments and run every part."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--memories", type=int, default=300, help="memories in one day")
    parser.add_argument("--days", type=int, default=10, help="days per round")
    parser.add_argument("--calls", type=int, default=200, help="speech drafts per round")
    parser.add_argument(
        "--sizes",
        type=lambda arg: [int(size) for size in arg.split(",")],
        default=[300, 500, 1_000, 2_000, 3_000, 10_000],
        help="comma-separated sweep sizes timed by both proposers",
    )
    parser.add_argument("--lsh-only", type=int, default=50_000, help="sweep size, LSH only")
    parser.add_argument("--quick", action="store_true", help="small inputs, for CI")
    args = parser.parse_args(argv)
    if args.quick:
        args.memories, args.days, args.calls = 60, 2, 20
        args.sizes, args.lsh_only = [100, 300], 1_000
    print(
        f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f}; threshold {THRESHOLD}, {NUM_PERM} "
        f"permutations, LSH (bands, rows) = {lsh_params(THRESHOLD, NUM_PERM)}"
    )
    bench_pipeline(args.memories, args.days)
    bench_speech(args.calls)
    bench_sweep(args.sizes, args.lsh_only)
    quality()


if __name__ == "__main__":
    main()
