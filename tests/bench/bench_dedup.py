"""Near-duplicate detection benchmark: the product's two workloads, bulk throughput, quality.

Run: ``.venv/bin/python -m tests.bench.bench_dedup [--quick]``

Workloads, as the product runs them:

1. **pipeline**: :func:`dedupe` of one day's extracted memories (``--memories``, 300 by
   default: a busy day, the 06:00 pipeline's input including what is already stored for
   the date). About a fifth are the same fact extracted again in other words or notation,
   a tenth state a different fact with the same wording (a new number, person, module).
2. **speech**: one autonomous utterance against the persona's 20 recent lines, exactly
   what the persona worker does per draft: a fresh :class:`NearDuplicateIndex`, 20
   ``add()`` and one ``find()``. A third of the drafts repeat one of the 20 lines.
3. **bulk**: :func:`dedupe` of ``--messages`` generated chat messages (50,000), about a
   quarter of them near-duplicates. No caller does this; it shows where the limits are.

Peer, same run, same inputs: **exact, no sketch**: each text compared with every kept text
(pipeline) or every recent line (speech) by ``verified_similarity``, the very decision the
index takes on its LSH candidates (size bound, same facts, exact Jaccard), with no MinHash
and no LSH. So ours ÷ peer is what MinHash and LSH cost, or save, at that size, and the
peer's result is the reference: where ours differs, LSH missed a pair. The peer is left
out of the bulk run, where comparing every pair is quadratic.

Timing: every variant best of 3 rounds; a round runs every case of the workload
(``--days`` days of memories, ``--calls`` drafts, each with its own 20 lines) and the
figure is the round's time divided by its calls. "fingerprints alone" is
:func:`fingerprint` (normalisation, shingles, fact tokens) of the same texts: the part
both variants share.

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

from agentfleet_runtime.dedup import NearDuplicateIndex, dedupe, fingerprint, lsh_params
from agentfleet_runtime.dedup.index import verified_similarity
from agentfleet_runtime.dedup.normalize import Fingerprint
from tests.bench.gen_dedup_pairs import BASE, DIFFERENT_FACTS, NOTATION_OPS, rephrase

DATA = Path(__file__).resolve().parents[1] / "data" / "dedup_pairs_ja.jsonl"
NEAR_VERBATIM = ("exact", "notation")
THRESHOLD = 0.8
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
    """The peer: :func:`dedupe`'s decision against every kept text, no sketch, no LSH."""
    kept: list[Fingerprint] = []
    keep: list[int] = []
    for i, text in enumerate(texts):
        fp = fingerprint(text)
        if not any(verified_similarity(fp, k, THRESHOLD) is not None for k in kept):
            kept.append(fp)
            keep.append(i)
    return keep


def speech_ours(recent: Sequence[str], draft: str) -> list[int]:
    """What the persona worker does per draft: index the recent lines, find the draft."""
    index: NearDuplicateIndex[int] = NearDuplicateIndex(threshold=THRESHOLD)
    for number, line in enumerate(recent):
        index.add(number, line)
    return sorted(match.key for match in index.find(draft))


def speech_exact(recent: Sequence[str], draft: str) -> list[int]:
    """The peer: the draft against every recent line by the same decision, no sketch."""
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


def _print_per_call(rows: list[tuple[str, float]], calls: int, peer_s: float | None) -> None:
    print("| variant | per call | ÷ peer |")
    print("|---|---:|---:|")
    for name, secs in rows:
        ratio = f"{secs / peer_s:.2f}" if peer_s else "—"
        print(f"| {name} | {secs / calls * 1e3:.3f} ms | {ratio} |")


def bench_pipeline(memories: int, days: int) -> None:
    """Print the per-day time of dedupe() over one day's memories, and the peer's."""
    rng = random.Random(11)
    day_texts = [generate_memories(memories, rng) for _ in range(days)]
    ours, ours_s = best_of(lambda: [dedupe(texts) for texts in day_texts])
    peer, peer_s = best_of(lambda: [dedupe_exact(texts) for texts in day_texts])
    _, fp_s = best_of(lambda: [fingerprint_only(texts) for texts in day_texts])
    kept = sum(len(k) for k in ours)
    differ = sum(len(set(a) ^ set(b)) for a, b in zip(ours, peer, strict=True))
    print(f"\n## Pipeline: dedupe() of one day's {memories} memories ({days} days, best of 3)")
    _print_per_call(
        [
            ("dedupe(): MinHash LSH candidates, exact check", ours_s),
            ("peer: exact check against every kept memory", peer_s),
            ("fingerprints alone (shared by both)", fp_s),
        ],
        days,
        peer_s,
    )
    print(
        f"kept {kept / days:.1f} of {memories} per day; ours and the peer keep different "
        f"memories in {differ} cases (LSH misses)"
    )


def bench_speech(calls: int) -> None:
    """Print the per-draft time of the persona worker's repeat check, and the peer's."""
    cases = generate_drafts(calls, random.Random(13))
    ours, ours_s = best_of(lambda: [speech_ours(recent, draft) for recent, draft in cases])
    peer, peer_s = best_of(lambda: [speech_exact(recent, draft) for recent, draft in cases])
    _, fp_s = best_of(lambda: [fingerprint_only([*recent, draft]) for recent, draft in cases])
    repeats = sum(bool(found) for found in ours)
    differ = sum(a != b for a, b in zip(ours, peer, strict=True))
    print(f"\n## Speech: one draft against {RECENT_LINES} recent lines ({calls} drafts, best of 3)")
    _print_per_call(
        [
            ("NearDuplicateIndex: 20 add() + find()", ours_s),
            ("peer: exact check against each recent line", peer_s),
            ("fingerprints alone (shared by both)", fp_s),
        ],
        calls,
        peer_s,
    )
    print(f"repeats found in {repeats} of {calls} drafts; ours and the peer differ in {differ}")


def bench_bulk(count: int) -> None:
    """Print dedupe() throughput over generated chat messages (no peer: quadratic)."""
    messages = generate_messages(count)
    keep, secs = best_of(lambda: dedupe(messages))
    _, fp_s = best_of(lambda: fingerprint_only(messages))
    print(f"\n## Bulk: dedupe() of {count:,} messages (best of 3)")
    print("| variant | seconds | messages/s | kept |")
    print("|---|---:|---:|---:|")
    print(f"| dedupe() | {secs:.2f} | {count / secs:,.0f} | {len(keep):,} |")
    print(f"| fingerprints alone | {fp_s:.2f} | {count / fp_s:,.0f} | |")


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
    parser.add_argument("--messages", type=int, default=50_000, help="bulk messages")
    parser.add_argument("--quick", action="store_true", help="small inputs, for CI")
    args = parser.parse_args(argv)
    if args.quick:
        args.memories, args.days, args.calls, args.messages = 60, 2, 20, 1_000
    print(
        f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; "
        f"threshold {THRESHOLD}, 128 permutations, LSH (bands, rows) = "
        f"{lsh_params(THRESHOLD, 128)}"
    )
    bench_pipeline(args.memories, args.days)
    bench_speech(args.calls)
    bench_bulk(args.messages)
    quality()


if __name__ == "__main__":
    main()
