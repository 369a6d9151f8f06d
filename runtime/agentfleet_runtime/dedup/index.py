"""Near-duplicate index: candidates by exact scan or MinHash LSH, exact Jaccard to decide.

Whether two texts are near-duplicates is decided by :func:`verified_similarity` alone: the
exact Jaccard similarity of their shingle sets must reach the threshold and the texts must
state the same facts (numbers, polarity, no substituted content word:
:func:`agentfleet_runtime.dedup.normalize.same_facts`). What a query is compared with, its
candidates, comes from one of two proposers:

- **exact scan** (the default): every indexed text. A comparison is cheap (a size bound
  rejects most pairs before any set is intersected), so below :data:`LSH_MIN_TEXTS` texts
  comparing with them all costs less than sketching each text and querying the LSH. It is
  what the callers need: a persona's 20 recent lines, one day's few hundred memories.
- **MinHash LSH** (datasketch's ``MinHash`` and ``MinHashLSH``), for :func:`dedupe` of
  :data:`LSH_MIN_TEXTS` texts or more, where comparing each text with every kept one grows
  with the square of the input. MinHash LSH alone is a poor judge at the threshold itself:
  with 128 permutations tuned to 0.8 (datasketch's default weighting), a pair whose Jaccard
  similarity is exactly 0.8 becomes a candidate only about 40 % of the time. So the bands
  here are deliberately generous (:func:`lsh_params`: a pair at the threshold is missed
  with probability ≤ ``max_miss``), and LSH decides only what is compared, never what is
  a duplicate: both proposers give the same decisions, but for a pair LSH misses (at the
  threshold, with 128 permutations, with probability 5e-5; less the more similar).

datasketch is imported only when an LSH is built, so a process that never has a large
input never loads it (see :class:`_MinHashCandidates`). Sketches live only as long as their
index and are never persisted, so a change of datasketch's hashing scheme cannot leave
stale ones behind.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Literal, TypeVar

from agentfleet_runtime.dedup.normalize import Fingerprint, fingerprint, jaccard, same_facts

if TYPE_CHECKING:
    from datasketch import MinHash

__all__ = [
    "LSH_MIN_TEXTS",
    "Match",
    "NearDuplicateIndex",
    "dedupe",
    "lsh_params",
    "verified_similarity",
]

K = TypeVar("K", bound=Hashable)

LSH_MIN_TEXTS = 1_000
"""Inputs of :func:`dedupe` from this many texts on get LSH candidates, smaller ones a scan.

Where the two proposers cross, rounded: ``.venv/bin/python -m tests.bench.bench_dedup``
times both on the same generated chat messages at growing sizes (its sweep). On the
project's 2-core machine the scan takes half LSH's time at 300 texts, they are level
between 800 and 1,000 texts, and LSH is 1.7× faster at 2,000 and 5.4× at 10,000.
"""

Candidates = Literal["auto", "exact", "lsh"]
"""How :func:`dedupe` proposes candidates: by input size, always a scan, always LSH."""


@dataclass(frozen=True, slots=True)
class Match(Generic[K]):
    """An indexed text found to near-duplicate a query, with its exact Jaccard similarity."""

    key: K
    similarity: float


def _check_threshold(threshold: float) -> None:
    """Refuse a threshold no similarity can meaningfully reach (or every pair would)."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")


def lsh_params(threshold: float, num_perm: int, max_miss: float = 0.001) -> tuple[int, int]:
    """Return LSH ``(bands, rows)`` missing a pair at ``threshold`` with prob. ≤ ``max_miss``.

    A pair with Jaccard similarity ``s`` shares at least one band with probability
    ``1 - (1 - s**r)**b``. Among the ``(b, r)`` with ``b * r <= num_perm`` that keep the miss
    probability at ``threshold`` within ``max_miss``, the largest ``r`` is taken, as it admits
    the fewest dissimilar candidates (verification cost). For 0.8 and 128 permutations this
    is 25 bands of 5 rows: miss probability 5e-5 at 0.8; candidate probability ≈ 55 % at
    0.5 and 6 % at 0.3.
    """
    _check_threshold(threshold)
    for rows in range(num_perm // 2, 0, -1):
        bands = num_perm // rows
        if bands >= 2 and (1.0 - threshold**rows) ** bands <= max_miss:
            return bands, rows
    return num_perm, 1


def verified_similarity(
    a: Fingerprint, b: Fingerprint, threshold: float, check_facts: bool = True
) -> float | None:
    """Return the exact Jaccard similarity of two texts if they are near-duplicates, else None.

    Near-duplicates: similarity ≥ ``threshold`` and, with ``check_facts``, the same facts
    (:func:`agentfleet_runtime.dedup.normalize.same_facts`). This is the decision; the
    proposers only choose which pairs it is asked about.
    """
    size_a, size_b = len(a.shingles), len(b.shingles)
    # Jaccard >= t needs the smaller set to be >= t times the larger: a free rejection of
    # most candidates, before any set intersection.
    if not size_a or min(size_a, size_b) < threshold * max(size_a, size_b):
        return None
    if check_facts and not same_facts(a, b):
        return None
    similarity = jaccard(a.shingles, b.shingles)
    return similarity if similarity >= threshold else None


class _MinHashCandidates(Generic[K]):
    """datasketch MinHash LSH over the indexed texts' shingles: the keys worth comparing."""

    def __init__(self, threshold: float, num_perm: int) -> None:
        # Imported here, not with the module: datasketch's package __init__ imports its LSH
        # module, which imports scipy.integrate (for a parameter optimisation we replace by
        # lsh_params). That is about 50 MiB of RSS and 0.5 s of start-up in every fleet
        # process, paid only by a caller with an input large enough to need LSH.
        from datasketch import MinHash, MinHashLSH

        self._lsh = MinHashLSH(num_perm=num_perm, params=lsh_params(threshold, num_perm))
        # Every sketch is a copy of this empty one: MinHash() would draw its permutations
        # again from a seeded generator each time, which costs more than hashing a line.
        self._empty = MinHash(num_perm=num_perm)
        self._last: tuple[Fingerprint, MinHash] | None = None

    def insert(self, key: K, fp: Fingerprint) -> None:
        """Add a text with shingles under ``key``."""
        self._lsh.insert(key, self._sketch(fp), check_duplication=False)

    def query(self, fp: Fingerprint) -> list[K]:
        """The keys sharing at least one band with a text with shingles."""
        keys: list[K] = self._lsh.query(self._sketch(fp))
        return keys

    def _sketch(self, fp: Fingerprint) -> MinHash:
        """The MinHash of a fingerprint's shingles."""
        # dedupe() queries a text, then inserts the very same one: sketch it once.
        if self._last is None or self._last[0] is not fp:
            sketch = self._empty.copy()
            sketch.update_batch([shingle.encode() for shingle in fp.shingles])
            self._last = (fp, sketch)
        return self._last[1]


class NearDuplicateIndex(Generic[K]):
    """An in-memory index of texts answering "which indexed texts near-duplicate this one?".

    Two texts are near-duplicates when the exact Jaccard similarity of their shingle sets
    (see :mod:`agentfleet_runtime.dedup.normalize`) is at least ``threshold`` and, with
    ``check_facts``, :func:`agentfleet_runtime.dedup.normalize.same_facts` holds for them. Texts
    with nothing left after normalisation (only emoji, a bare URL) are stored but never match
    anything.

    Not thread-safe; the runtime uses it from one asyncio task at a time.

    Args:
        threshold: minimum exact Jaccard similarity of a near-duplicate.
        num_perm: None (the default) compares a query with every indexed text, the faster
            way below :data:`LSH_MIN_TEXTS` texts; a number of MinHash permutations has
            datasketch's LSH propose the texts to compare, for larger indexes.
        check_facts: also require :func:`agentfleet_runtime.dedup.normalize.same_facts`.

    """

    def __init__(
        self, threshold: float = 0.8, num_perm: int | None = None, *, check_facts: bool = True
    ) -> None:
        _check_threshold(threshold)
        self.threshold = threshold
        self.check_facts = check_facts
        self._entries: dict[K, Fingerprint] = {}
        self._lsh: _MinHashCandidates[K] | None = (
            None if num_perm is None else _MinHashCandidates(threshold, num_perm)
        )

    def add(self, key: K, text: str) -> None:
        """Index ``text`` under ``key``; raises :class:`KeyError` if ``key`` is present."""
        self._insert(key, fingerprint(text))

    def find(self, text: str) -> list[Match[K]]:
        """Return the indexed texts that near-duplicate ``text``, most similar first."""
        matches = list(self._matches(fingerprint(text)))
        matches.sort(key=lambda m: m.similarity, reverse=True)
        return matches

    def _insert(self, key: K, fp: Fingerprint) -> None:
        """Store a fingerprint, and give it to the LSH if there is one and it has shingles."""
        if key in self._entries:
            raise KeyError(f"key already indexed: {key!r}")
        self._entries[key] = fp
        if self._lsh is not None and fp.shingles:
            self._lsh.insert(key, fp)

    def _matches(self, fp: Fingerprint) -> Iterator[Match[K]]:
        """The proposer's candidates for a fingerprint that pass the decision, lazily.

        Lazily, so that :func:`dedupe`, which only asks whether there is one, stops at the
        first.
        """
        if not fp.shingles:
            return
        candidates: Iterable[K] = self._entries if self._lsh is None else self._lsh.query(fp)
        for key in candidates:
            similarity = verified_similarity(
                fp, self._entries[key], self.threshold, self.check_facts
            )
            if similarity is not None:
                yield Match(key, similarity)


def dedupe(
    texts: Sequence[str],
    *,
    threshold: float = 0.8,
    num_perm: int = 128,
    check_facts: bool = True,
    candidates: Candidates = "auto",
) -> list[int]:
    """Return the indices of ``texts`` to keep: each text not near-duplicating a kept one.

    The first occurrence wins, and a text is compared with the texts kept so far only (a
    dropped text cannot cause further drops). Texts with nothing left after normalisation
    are always kept. Exactly what adding the kept texts one by one to a
    :class:`NearDuplicateIndex` gives; each text is fingerprinted (and sketched) once.

    ``candidates="auto"`` scans every kept text below :data:`LSH_MIN_TEXTS` texts and has
    MinHash LSH with ``num_perm`` permutations propose them from there on, whichever is
    faster at that size; ``"exact"`` and ``"lsh"`` force one. Both keep the same texts but
    for a pair LSH misses (see the module docstring).
    """
    if candidates not in ("auto", "exact", "lsh"):
        raise ValueError(f"candidates must be 'auto', 'exact' or 'lsh', got {candidates!r}")
    use_lsh = candidates == "lsh" or (candidates == "auto" and len(texts) >= LSH_MIN_TEXTS)
    index: NearDuplicateIndex[int] = NearDuplicateIndex(
        threshold, num_perm if use_lsh else None, check_facts=check_facts
    )
    keep: list[int] = []
    for i, text in enumerate(texts):
        fp = fingerprint(text)
        if next(index._matches(fp), None) is None:
            index._insert(i, fp)
            keep.append(i)
    return keep
