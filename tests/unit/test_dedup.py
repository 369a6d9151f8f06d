import json
import random
from pathlib import Path

import pytest

from agentfleet_runtime.dedup import (
    LSH_MIN_TEXTS,
    Fingerprint,
    NearDuplicateIndex,
    dedupe,
    fingerprint,
    jaccard,
    normalize,
    numbers,
    same_facts,
    shingles,
)
from agentfleet_runtime.dedup.index import Candidates
from tests.fixtures.processes import fresh_python

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "dedup_pairs_ja.jsonl"


# --- normalisation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ＡＰＩ設計を確認しよう！", "api設計を確認しよう"),
        ("API設計を確認しよう", "api設計を確認しよう"),
        ("ｻｰﾊﾞｰの応答が遅い", "さばの応答が遅い"),
        ("サーバの応答が遅い…", "さばの応答が遅い"),
        ("<@123456789012345678> レビューお願い <#42> <@&7>", "れびゅお願い"),
        ("了解 <:ok:998877665544332211> <a:party:1122> 👍🎉", "了解"),
        ("詳細は https://example.com/a?b=1#c を見て", "詳細はを見て"),
        ("リンク:https://x.example/docを確認", "りんくを確認"),
        ("www.example.co.jp/design 見た？", "見た"),
        ("今日　も  おつかれ、さま！！", "今日もおつかれさま"),
        ("草wwwwww", "草ww"),
        ("@everyone 集合！", "集合"),
        ("👍✨", ""),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_normalize_keeps_digits_and_folds_fullwidth_digits() -> None:
    assert normalize("認証は３日に完了") == "認証は3日に完了"
    assert normalize("1000件") != normalize("100件")


def test_numbers_are_canonical_and_ignore_ids_and_urls() -> None:
    assert numbers("認証は３日に完了") == numbers("認証は三日に完了") == {"3"}
    assert numbers("呼び出しは1,200回") == numbers("呼び出しは1200回") == {"1200"}
    assert numbers("09時に集合") == {"9"}
    assert numbers("<@1234> https://github.com/x/pull/128 見て") == frozenset()
    assert numbers("二十三人と三千五百円") == {"23", "3500"}
    assert numbers("一緒に一旦確認しよう") == frozenset()  # no counter: not a number
    assert numbers("<t:1700000000:R>に開始") == {"1700000000"}


def test_short_texts_use_bigrams_and_longer_texts_trigrams() -> None:
    assert shingles("了解です！") == {"了解", "解で", "です"}
    assert shingles("OK") == {"ok"}
    assert shingles("あ") == {"あ"}
    assert shingles("👍") == set()
    assert shingles("API設計を確認") == {"api", "pi設", "i設計", "設計を", "計を確", "を確認"}


def test_jaccard() -> None:
    assert jaccard({"a", "b"}, {"a", "b"}) == 1.0
    assert jaccard({"a", "b"}, {"b", "c"}) == pytest.approx(1 / 3)
    assert jaccard(set(), set()) == 0.0


def test_same_facts_rules() -> None:
    def same(a: str, b: str) -> bool:
        return same_facts(fingerprint(a), fingerprint(b))

    assert same("認証は3日に完了", "認証は３日に完了！")
    assert not same("認証は3日に完了", "認証は5日に完了")
    assert not same("メールが届いた", "メールが届かなかった")
    assert not same("テスト完了", "テスト未完了")
    assert not same("検索のエンドポイントで失敗", "決済のエンドポイントで失敗")
    assert same("とりあえず検索のエンドポイントで失敗", "検索のエンドポイントで失敗")
    assert same("動作確認しよう", "動作の確認しよう")
    assert same("すみません、遅れます", "すみません遅れます")


# --- index -----------------------------------------------------------------------------


def test_exact_and_notation_variants_are_found() -> None:
    index: NearDuplicateIndex[str] = NearDuplicateIndex()
    index.add("m1", "API設計を確認しよう")
    index.add("m2", "ログイン画面のデザイン案をいくつか考えてみたよ")
    for variant in (
        "API設計を確認しよう",
        "ＡＰＩ設計を確認しよう！",
        "<@123456789012345678> API 設計を 確認しよう 👍",
        "API設計を確認しよう https://github.com/agentfleet/x/pull/1",
    ):
        found = index.find(variant)
        assert [m.key for m in found] == ["m1"], variant
        assert found[0].similarity == 1.0
    assert index.find("ﾛｸﾞｲﾝ画面のデザイン案をいくつか考えてみたよ〜")[0].key == "m2"


def test_different_facts_are_not_merged() -> None:
    index: NearDuplicateIndex[int] = NearDuplicateIndex()
    index.add(1, "認証システムの実装は来週の月曜日までに終わらせて、ドキュメントも更新しよう 3日")
    assert not index.find(
        "認証システムの実装は来週の月曜日までに終わらせて、ドキュメントも更新しよう 5日"
    )
    assert not index.find(
        "認証システムの実装は来週の水曜日までに終わらせて、ドキュメントも更新しよう 3日"
    )
    assert index.find(
        "認証システムの実装は来週の月曜日までに終わらせて、ドキュメントも更新しよう！3日"
    )
    # Without the fact rules, Jaccard alone merges the weekday change (one kanji).
    loose: NearDuplicateIndex[int] = NearDuplicateIndex(check_facts=False)
    loose.add(1, "認証システムの実装は来週の月曜日までに終わらせて、ドキュメントも更新しよう 3日")
    assert loose.find(
        "認証システムの実装は来週の水曜日までに終わらせて、ドキュメントも更新しよう 3日"
    )


def test_unrelated_texts_are_not_found() -> None:
    index: NearDuplicateIndex[int] = NearDuplicateIndex()
    index.add(1, "API設計を確認しよう")
    assert index.find("週末は何してた？") == []


def test_texts_with_nothing_left_never_match_and_keys_are_unique() -> None:
    index: NearDuplicateIndex[str] = NearDuplicateIndex()
    index.add("emoji", "👍")  # nothing left after normalisation
    index.add("link", "https://github.com/agentfleet/x/pull/1")
    assert index.find("👍") == []
    assert index.find("🎉") == []
    assert index.find("https://github.com/agentfleet/x/pull/1") == []
    with pytest.raises(KeyError):
        index.add("emoji", "別の文")


def test_find_orders_by_similarity() -> None:
    index: NearDuplicateIndex[str] = NearDuplicateIndex(threshold=0.5)
    index.add("close", "負荷テストの結果を確認すると、ボトルネックはDBのロック待ちという構造だ")
    index.add("same", "負荷テストの結果を確認すると、ボトルネックはDBのロック待ちという構造だね")
    found = index.find("負荷テストの結果を確認すると、ボトルネックはDBのロック待ちという構造だね！")
    assert [m.key for m in found] == ["same", "close"]
    assert found[0].similarity == 1.0 > found[1].similarity >= 0.5


def _kanji(rng: random.Random, count: int) -> str:
    """Random kanji, so every 3-gram of a text is distinct and similarities are exact ratios.

    From U+4E00..U+7FFF: no NFKC change, and the numerals (一二三…) and negating kanji
    (未不非無) in that range are rare enough not to matter with ``check_facts=False``.
    """
    return "".join(chr(rng.randint(0x4E00, 0x7FFF)) for _ in range(count))


@pytest.mark.parametrize("num_perm", [None, 128], ids=["scan", "lsh"])
def test_pairs_at_the_threshold_are_found_and_just_below_are_not(num_perm: int | None) -> None:
    # A text of 4m shingles and the same text with m characters more: Jaccard exactly 0.8.
    # datasketch's LSH tuned to 0.8 proposes such a pair only about 40 % of the time; the
    # index's bands must propose every one (as the scan does), and the exact check must
    # refuse one more character.
    rng = random.Random(3)
    for trial in range(200):
        m = 3 + trial % 10
        base = _kanji(rng, 4 * m + 2)
        at_threshold = base + _kanji(rng, m)
        below = base + _kanji(rng, m + 1)
        assert jaccard(shingles(base), shingles(at_threshold)) == 0.8
        assert jaccard(shingles(base), shingles(below)) < 0.8
        index: NearDuplicateIndex[int] = NearDuplicateIndex(num_perm=num_perm, check_facts=False)
        index.add(trial, base)
        assert [match.key for match in index.find(at_threshold)] == [trial], trial
        assert index.find(below) == [], trial


# --- dedupe ----------------------------------------------------------------------------


def test_dedupe_keeps_first_occurrence() -> None:
    texts = [
        "ＡＰＩ設計を確認しよう！",
        "週末は何してた？",
        "API設計を確認しよう",
        "認証は3日に完了",
        "認証は5日に完了",
        "認証は３日に完了。",
        "👍",
        "👍",
        "週末は何してた？？ 😂",
    ]
    assert dedupe(texts) == [0, 1, 3, 4, 6, 7]
    assert dedupe([]) == []


def test_a_dropped_text_drops_nothing_else() -> None:
    # b near-duplicates a (40 of 45 shingles), c near-duplicates b (45 of 51) but not a
    # (40 of 51): with b dropped, nothing kept is close to c, so c stays.
    rng = random.Random(8)
    a = _kanji(rng, 42)
    b = a + _kanji(rng, 5)
    c = b + _kanji(rng, 6)
    assert dedupe([a, b, c], check_facts=False) == [0, 2]


@pytest.mark.parametrize("candidates", ["exact", "lsh"])
def test_dedupe_equals_comparing_with_every_kept_text(candidates: Candidates) -> None:
    # The definition, written out: a text is dropped when some kept text has exact
    # Jaccard >= 0.8 with it and states the same facts. Scanning every kept text and LSH
    # may only differ in what they compare, so on the labelled set's texts, shuffled,
    # both keep exactly these texts.
    rng = random.Random(5)
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
    texts = [t for row in rows for t in (row["a"], row["b"])]
    rng.shuffle(texts)
    kept: list[Fingerprint] = []
    expected = []
    for i, text in enumerate(texts):
        fp = fingerprint(text)
        if not any(jaccard(fp.shingles, k.shingles) >= 0.8 and same_facts(fp, k) for k in kept):
            kept.append(fp)
            expected.append(i)
    assert dedupe(texts, candidates=candidates) == expected
    assert len(expected) < len(texts)


def test_a_large_input_keeps_the_same_texts_as_scanning_every_kept_one() -> None:
    # LSH_MIN_TEXTS texts and more get LSH candidates. A third of these repeat an earlier
    # text at exactly the threshold (each missed by the bands with probability 5e-5), a
    # third are just below it: the scan drops exactly the first third, and so must LSH.
    rng = random.Random(21)
    texts: list[str] = []
    at_threshold: set[int] = set()
    while len(texts) < LSH_MIN_TEXTS:
        m = 3 + len(texts) % 10
        base = _kanji(rng, 4 * m + 2)
        at_threshold.add(len(texts) + 1)
        texts += [base, base + _kanji(rng, m), base + _kanji(rng, m + 1)]
    expected = [i for i in range(len(texts)) if i not in at_threshold]
    assert dedupe(texts, check_facts=False, candidates="exact") == expected
    assert dedupe(texts, check_facts=False) == expected  # LSH: at least LSH_MIN_TEXTS


def test_bad_arguments_get_a_clear_error() -> None:
    with pytest.raises(ValueError, match="candidates must be 'auto', 'exact' or 'lsh'"):
        dedupe(["a"], candidates="fast")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"threshold must be in \(0, 1\], got 1.5"):
        NearDuplicateIndex(threshold=1.5)
    with pytest.raises(ValueError, match=r"threshold must be in \(0, 1\], got 0"):
        dedupe(["a"], threshold=0)


# What the fleet runs, in a fresh interpreter: the two modules importing dedup, a speech
# check and a day's dedupe; then dedupe just below and at LSH_MIN_TEXTS texts. It prints
# which of datasketch and scipy are loaded after each step.
FLEET_DEDUP = """
import json, sys
import agentfleet_runtime.app.persona_worker
import agentfleet_runtime.pipeline.run
from agentfleet_runtime.dedup import LSH_MIN_TEXTS, NearDuplicateIndex, dedupe

def loaded():
    return sorted(m for m in ("datasketch", "scipy") if m in sys.modules)

steps = {"imports": loaded()}
index = NearDuplicateIndex()
index.add(0, "API設計を確認しよう")
steps["speech"] = [[m.key for m in index.find("ＡＰＩ設計を確認しよう！")], loaded()]
day = ["API設計を確認しよう", "ＡＰＩ設計を確認しよう！", "週末は何してた？"]
steps["pipeline"] = [dedupe(day), loaded()]
memories = [f"{i}件目の記憶" for i in range(LSH_MIN_TEXTS)]
steps["below"] = [len(dedupe(memories[:-1])), loaded()]
steps["at"] = [len(dedupe(memories)), loaded()]
print(json.dumps(steps))
"""


def test_the_fleet_never_loads_datasketch_or_scipy() -> None:
    # datasketch's package imports scipy: about 50 MiB and 0.5 s in every process. Only an
    # input of LSH_MIN_TEXTS texts or more may load them, which no fleet caller has.
    steps = json.loads(fresh_python(FLEET_DEDUP))
    assert steps["imports"] == []
    assert steps["speech"] == [[0], []]
    assert steps["pipeline"] == [[0, 2], []]
    assert steps["below"] == [LSH_MIN_TEXTS - 1, []]
    # Different numbers: nothing is dropped, but the LSH that proposed it loaded both.
    assert steps["at"] == [LSH_MIN_TEXTS, ["datasketch", "scipy"]]


# --- quality over the labelled set (correctness, not timing) ---------------------------


def _judge(rows: list[dict[str, object]]) -> dict[str, list[bool]]:
    judged: dict[str, list[bool]] = {}
    for row in rows:
        index: NearDuplicateIndex[int] = NearDuplicateIndex()
        index.add(0, str(row["a"]))
        judged.setdefault(str(row["kind"]), []).append(bool(index.find(str(row["b"]))))
    return judged


def test_labelled_set_shape() -> None:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 300
    kinds = {str(r["kind"]) for r in rows}
    assert kinds == {"exact", "notation", "rephrase", "paraphrase", "different_fact"}
    for kind in kinds:
        assert sum(r["kind"] == kind for r in rows) >= 60
    assert all(r["duplicate"] == (r["kind"] != "different_fact") for r in rows)


def test_quality_on_labelled_set() -> None:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
    judged = _judge(rows)
    near_verbatim = judged["exact"] + judged["notation"]
    true_positives = sum(near_verbatim)
    false_positives = sum(judged["different_fact"])
    precision = true_positives / (true_positives + false_positives)
    recall = true_positives / len(near_verbatim)
    merge_rate = false_positives / len(judged["different_fact"])
    assert precision >= 0.98
    assert recall >= 0.95
    assert merge_rate <= 0.01
