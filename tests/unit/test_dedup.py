import json
import random
from pathlib import Path

import numpy as np
import pytest
from datasketch import MinHash

from agentfleet_runtime.dedup import (
    NearDuplicateIndex,
    SignatureBuilder,
    dedupe,
    fingerprint,
    jaccard,
    lsh_params,
    normalize,
    numbers,
    same_facts,
    shingle_hash,
    shingles,
)
from agentfleet_runtime.dedup.normalize import shingles_of_normalized

DATA = Path(__file__).resolve().parents[1] / "data" / "dedup_pairs_ja.jsonl"


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


# --- signatures ------------------------------------------------------------------------


def test_signatures_equal_datasketch_minhash_with_the_same_hash() -> None:
    texts = ["ＡＰＩ設計を確認しよう！", "了解", "a", "", "認証は3日に完了", "x" * 400]
    norms = [normalize(t) for t in texts]
    built = SignatureBuilder(num_perm=64, seed=3).build(norms)
    for norm, row in zip(norms, built, strict=True):
        reference = MinHash(num_perm=64, seed=3, hashfunc=shingle_hash)
        reference.update_batch(sorted(shingles_of_normalized(norm)))
        assert np.array_equal(reference.hashvalues, row)


def test_shingle_hash_is_deterministic_and_distinguishes_ngram_sizes() -> None:
    # Fixed value: the same on every machine and process (no PYTHONHASHSEED dependence).
    assert shingle_hash("api") == shingle_hash("api")
    assert len({shingle_hash("a"), shingle_hash("aa"), shingle_hash("aaa")}) == 3
    assert 0 <= shingle_hash("設計を") < 2**32


def test_signature_estimate_tracks_exact_jaccard() -> None:
    a = normalize("今日のミーティングは認証システムの進捗から始めよう")
    b = normalize("今日のミーティングは認証システムの進捗から始めようか")
    sig = SignatureBuilder(num_perm=256).build([a, b])
    estimate = float(np.mean(sig[0] == sig[1]))
    exact = jaccard(shingles_of_normalized(a), shingles_of_normalized(b))
    assert abs(estimate - exact) < 0.12


def test_lsh_params_are_generous() -> None:
    bands, rows = lsh_params(0.8, 128)
    assert bands * rows <= 128
    miss_at_threshold = (1 - 0.8**rows) ** bands
    assert miss_at_threshold <= 0.001
    # datasketch's own tuning for 0.8 would miss a 0.8 pair most of the time.
    assert 1 - (1 - 0.8**rows) ** bands > 0.99


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


def test_remove_len_contains_and_duplicate_keys() -> None:
    index: NearDuplicateIndex[str] = NearDuplicateIndex()
    index.add("a", "デプロイ前にステージング環境で動作確認しておこう")
    index.add("b", "👍")  # nothing left after normalisation: stored, never matched
    assert len(index) == 2
    assert "a" in index
    assert index.find("👍") == []
    with pytest.raises(KeyError):
        index.add("a", "別の文")
    index.remove("a")
    index.remove("b")
    assert len(index) == 0
    assert "a" not in index
    assert index.find("デプロイ前にステージング環境で動作確認しておこう") == []
    with pytest.raises(KeyError):
        index.remove("a")
    index.add("a", "デプロイ前にステージング環境で動作確認しておこう")
    assert index.is_duplicate("デプロイ前にステージング環境で動作確認しておこう！")


def test_find_orders_by_similarity() -> None:
    index: NearDuplicateIndex[str] = NearDuplicateIndex(threshold=0.5)
    index.add_many(
        [
            ("close", "負荷テストの結果を確認すると、ボトルネックはDBのロック待ちという構造だ"),
            ("same", "負荷テストの結果を確認すると、ボトルネックはDBのロック待ちという構造だね"),
        ]
    )
    found = index.find("負荷テストの結果を確認すると、ボトルネックはDBのロック待ちという構造だね！")
    assert [m.key for m in found] == ["same", "close"]
    assert found[0].similarity == 1.0 > found[1].similarity >= 0.5


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


def test_dedupe_bulk_path_equals_minhash_lsh_path_and_index() -> None:
    rng = random.Random(5)
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
    texts = [t for row in rows for t in (row["a"], row["b"])]
    rng.shuffle(texts)
    bulk = dedupe(texts)
    assert bulk == dedupe(texts, use_minhash_lsh=True)
    # The definition: add kept texts one by one to an index.
    index: NearDuplicateIndex[int] = NearDuplicateIndex()
    expected = []
    for i, text in enumerate(texts):
        if not index.is_duplicate(text):
            index.add(i, text)
            expected.append(i)
    assert bulk == expected
    assert len(bulk) < len(texts)


# --- quality over the labelled set (correctness, not timing) ---------------------------


def _judge(rows: list[dict[str, object]]) -> dict[str, list[bool]]:
    judged: dict[str, list[bool]] = {}
    for row in rows:
        index: NearDuplicateIndex[int] = NearDuplicateIndex()
        index.add(0, str(row["a"]))
        judged.setdefault(str(row["kind"]), []).append(index.is_duplicate(str(row["b"])))
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
