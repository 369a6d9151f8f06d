"""Text normalisation, shingling and fact tokens for near-duplicate detection.

Everything here is pure and deterministic (no Python ``hash()``, no locale), so two pods, or
yesterday's pipeline run and today's, turn the same text into the same shingles.

Pipeline of :func:`normalize`:

1. NFKC: full-width ``ＡＰＩ１２`` → ``API12``, half-width ``ｻｰﾊﾞｰ`` → ``サーバー``,
   circled/compatibility characters → plain ones.
2. Discord markup is removed (user/role/channel mentions, custom emoji, slash-command
   mentions, ``@everyone``/``@here``); Discord timestamps ``<t:1700000000:R>`` keep their
   number, since a different time is a different fact.
3. URLs are removed: a pasted link is decoration around the sentence, not its content.
4. Lower case; katakana folded to hiragana and the long-vowel mark ``ー`` dropped, so
   ``サーバー``/``サーバ``/``さーばー`` agree (common notation variants in Japanese chat).
5. Everything that is not a letter or digit (punctuation, symbols, unicode emoji, spaces) is
   dropped, and runs of three or more identical characters are shortened to two
   (``草wwwww`` ≈ ``草ww``).

Japanese has no spaces between words, so the text is compared as character n-grams:
3-grams normally, 2-grams for very short texts (≤ :data:`SHORT_TEXT_MAX_CHARS` characters),
where 3-grams would leave one or two shingles and any single-character change would zero
the similarity.

Facts (:func:`same_facts`). Character shingles cannot tell ``認証は3日に完了`` from
``認証は5日に完了``, or ``検索のエンドポイントで…`` from ``決済のエンドポイントで…``, once a
sentence is long enough: one changed character costs only three shingles out of dozens. Yet
merging them would drop a fact from long-term memory, or silence an agent reporting new
progress. So besides the Jaccard threshold, two texts are near-duplicates only if they state
the same facts, as far as cheap rules can tell:

- the same numbers (arabic, or kanji numerals before a counter: ``3日`` = ``三日`` = ``３日``);
- the same polarity (negative endings ない/なかった/ません, prefixes 未/不/非/無), since
  ``メールが届いた`` and ``メールが届かなかった`` differ by one inflection;
- no substituted content word: the kanji characters and the katakana and latin words of one
  text must be a subset of the other's. Adding a word (``とりあえず``, ``少し``) or writing a
  word in kana keeps a pair comparable; replacing one (``検索`` → ``決済``, ``田中`` →
  ``佐藤``, ``午前`` → ``午後``) makes it a different fact. Japanese content words are
  mostly written in kanji and katakana, grammar mostly in hiragana, which is what makes
  this rule cheap and useful.

These rules err towards "different": a missed duplicate costs one redundant memory or one
repeated phrase, a wrong merge loses information.
"""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

__all__ = [
    "SHORT_TEXT_MAX_CHARS",
    "Fingerprint",
    "fingerprint",
    "jaccard",
    "normalize",
    "numbers",
    "same_facts",
    "shingle_size",
    "shingles",
    "shingles_of_normalized",
]

SHORT_TEXT_MAX_CHARS = 5
"""Normalised texts up to this length are shingled into 2-grams instead of 3-grams."""

# Discord markup. Mentions and custom emoji carry snowflake ids, which must go before the
# numbers are read (an id is not a fact of the sentence).
_DISCORD_TIMESTAMP = re.compile(r"<t:(-?\d+)(?::[tTdDfFR])?>")
_DISCORD_MARKUP = re.compile(
    r"<(?:@[!&]?\d+|#\d+|a?:\w+:\d+|/[^<>:\s]+(?: [^<>:\s]+)*:\d+)>|@(?:everyone|here)\b"
)
# Only printable ASCII may continue a URL: Japanese text typed straight after a link
# ("https://x.example/docを見て") must survive.
_URL = re.compile(r"(?:https?|ftp)://[!-~]+|www\.[!-~]+", re.IGNORECASE)
# Python's \w is "alphanumeric in Unicode" (kana, kanji, latin, digits, the long-vowel mark);
# \W therefore covers punctuation, symbols, emoji, variation selectors, ZWJ and spaces.
_NON_WORD = re.compile(r"[\W_]+")
_RUNS = re.compile(r"(\D)\1{2,}")

# Katakana → hiragana (ァ..ヶ and the iteration marks ヽヾ), deleting ー.
_KANA_TABLE: dict[int, int | None] = {cp: cp - 0x60 for cp in range(0x30A1, 0x30F7)}
_KANA_TABLE[0x30FD] = 0x309D
_KANA_TABLE[0x30FE] = 0x309E
_KANA_TABLE[0x30FC] = None

_ARABIC_NUMBER = re.compile(r"\d+(?:[.,]\d+)*", re.ASCII)
_KANJI_DIGITS = {
    "〇": 0,
    "零": 0,
    "一": 1,
    "二": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_KANJI_UNITS = {"十": 10, "百": 100, "千": 1000}
# A kanji numeral counts as a number only before a counter: 三日, 二十人, 五件, 十時. Without
# the counter, 一緒/一応/一旦 would read as facts and split harmless rephrases.
_KANJI_NUMBER = re.compile(
    r"([〇零一二三四五六七八九十百千万]+)(?=[日時分秒人名個件回週月年つ本枚台割倍点歳円%])"
)
# Negative inflections. すみません (sorry) is an apology, not a negation.
_NEGATION = re.compile(r"な(?:い|かった|くて|ければ|きゃ)|(?<!すみ)(?<!すい)ません")
_NEGATING_KANJI = re.compile(r"[未不非無]")
# Content words: single kanji (so 動作確認 and 動作の確認 agree), katakana and latin words.
_CONTENT = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々]|[\u30a1-\u30fa]+|[a-z]+")


class Fingerprint(NamedTuple):
    """What the index keeps of a text: its normal form, shingles and fact markers.

    ``numbers`` are canonically spelled numbers, ``polarity`` the negation markers present,
    ``content`` the content-word tokens (see :func:`same_facts`). A named tuple rather than
    a dataclass: one is built per text compared, and tuples are cheaper to create.
    """

    normalized: str
    shingles: frozenset[str]
    numbers: frozenset[str]
    polarity: frozenset[str]
    content: frozenset[str]


def _prepare(text: str) -> str:
    """NFKC, Discord markup and URLs removed, lower case: the text facts are read from."""
    prepared = unicodedata.normalize("NFKC", text)
    # Substring tests first: most lines have no markup or link, and `in` is much cheaper
    # than running the patterns.
    if "<" in prepared or "@" in prepared:
        prepared = _DISCORD_TIMESTAMP.sub(r" \1 ", prepared)
        prepared = _DISCORD_MARKUP.sub(" ", prepared)
    if "://" in prepared or "www." in prepared.lower():
        prepared = _URL.sub(" ", prepared)
    return prepared.lower()


def _join(prepared: str) -> str:
    """Drop long-vowel marks and every non-word character (kana not yet folded)."""
    return _NON_WORD.sub("", prepared.replace("ー", ""))


def _fold(joined: str) -> str:
    """Fold katakana to hiragana and shorten character runs: the normal form."""
    return _RUNS.sub(r"\1\1", joined.translate(_KANA_TABLE))


def normalize(text: str) -> str:
    """Return the comparison form of ``text`` (see the module docstring for the steps).

    >>> normalize("ＡＰＩ設計を確認しよう！👍 https://example.com")
    'api設計を確認しよう'
    """
    return _fold(_join(_prepare(text)))


def _kanji_to_int(numeral: str) -> int:
    """Read a kanji numeral: positional (二〇二六) or with units (二千二十六, 三万五千)."""
    if not any(ch in _KANJI_UNITS or ch == "万" for ch in numeral):
        return int("".join(str(_KANJI_DIGITS[ch]) for ch in numeral))
    total = 0
    section = 0
    digit = 0
    for ch in numeral:
        if ch in _KANJI_DIGITS:
            digit = _KANJI_DIGITS[ch]
        elif ch == "万":
            total += ((section + digit) or 1) * 10_000
            section = 0
            digit = 0
        else:
            section += (digit or 1) * _KANJI_UNITS[ch]
            digit = 0
    return total + section + digit


def _canonical_number(raw: str) -> str:
    """Canonical spelling of an arabic number: no thousands commas, no leading zeros."""
    number = raw.replace(",", "")
    whole, dot, fraction = number.partition(".")
    return (whole.lstrip("0") or "0") + dot + fraction


def _numbers_of_prepared(prepared: str) -> frozenset[str]:
    """Numbers of an already prepared (NFKC, markup-free, lower-case) text."""
    found = {_canonical_number(m) for m in _ARABIC_NUMBER.findall(prepared)}
    found.update(str(_kanji_to_int(m)) for m in _KANJI_NUMBER.findall(prepared))
    return frozenset(found)


def numbers(text: str) -> frozenset[str]:
    """Return the numbers stated in ``text``, canonically spelled.

    ``3日``, ``三日`` and ``３日`` all give ``{"3"}``; ``1,000`` and ``1000`` agree; ids inside
    Discord mentions and numbers inside URLs are ignored.

    >>> sorted(numbers("認証は３日の10:00に完了、三人で確認 <@123> https://x.example/pr/7"))
    ['0', '10', '3']
    """
    return _numbers_of_prepared(_prepare(text))


def _polarity_of_prepared(prepared: str) -> frozenset[str]:
    """Negation markers of a prepared text: "neg" for a negative ending, negating kanji."""
    markers = set(_NEGATING_KANJI.findall(prepared))
    if _NEGATION.search(prepared):
        markers.add("neg")
    return frozenset(markers)


def _content_of_joined(joined: str) -> frozenset[str]:
    """Content-word tokens of a joined text: kanji, katakana and latin words.

    Taken after :func:`_join`, so words are joined across spaces and punctuation
    (パスワード・リセット = パスワードリセット) and long-vowel marks are ignored (サーバー =
    サーバ), as in the normal form, but before katakana is folded into hiragana.
    """
    return frozenset(_CONTENT.findall(joined))


def same_facts(a: Fingerprint, b: Fingerprint) -> bool:
    """Return whether two texts may state the same facts (see the module docstring).

    True when they have the same numbers, the same polarity, and the content words of one
    are a subset of the other's (a word added, none replaced).
    """
    return (
        a.numbers == b.numbers
        and a.polarity == b.polarity
        and (a.content <= b.content or b.content <= a.content)
    )


def shingle_size(length: int) -> int:
    """Return the n-gram size used for a normalised text of ``length`` characters."""
    if length > SHORT_TEXT_MAX_CHARS:
        return 3
    return 2 if length >= 2 else 1


def shingles_of_normalized(normalized: str) -> set[str]:
    """Return the character n-grams of an already normalised text (empty for "")."""
    size = shingle_size(len(normalized))
    return {normalized[i : i + size] for i in range(len(normalized) - size + 1)}


def shingles(text: str) -> set[str]:
    """Return the character shingles of ``text`` after :func:`normalize`.

    3-grams normally, 2-grams for very short texts, the single character for a one-character
    text, and the empty set when nothing is left after normalisation (an emoji-only message).

    >>> sorted(shingles("了解です！"))
    ['です', '了解', '解で']
    """
    return shingles_of_normalized(normalize(text))


def fingerprint(text: str) -> Fingerprint:
    """Return the :class:`Fingerprint` of ``text`` (normal form, shingles, fact markers)."""
    prepared = _prepare(text)
    joined = _join(prepared)
    normalized = _fold(joined)
    return Fingerprint(
        normalized=normalized,
        shingles=frozenset(shingles_of_normalized(normalized)),
        numbers=_numbers_of_prepared(prepared),
        polarity=_polarity_of_prepared(prepared),
        content=_content_of_joined(joined),
    )


def jaccard(a: frozenset[str] | set[str], b: frozenset[str] | set[str]) -> float:
    """Return the exact Jaccard similarity of two shingle sets (0.0 when both are empty)."""
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)
