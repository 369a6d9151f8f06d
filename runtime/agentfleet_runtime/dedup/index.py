"""Near-duplicate index: datasketch MinHash LSH for candidates, exact Jaccard to decide.

MinHash LSH alone is a poor judge at the threshold itself: with 128 permutations tuned to
0.8 (datasketch's default weighting), a pair whose Jaccard similarity is exactly 0.8
becomes a candidate only about 40 % of the time. So the LSH here is deliberately generous
(bands chosen so that a pair at the threshold is missed with probability ≤ ``max_miss``,
0.1 % by default), and every candidate is then verified on the stored shingle sets: the
exact Jaccard similarity must reach the threshold and the texts must state the same facts
(numbers, polarity, no substituted content word:
:func:`agentfleet_runtime.dedup.normalize.same_facts`). LSH decides only what is compared,
never what is a duplicate.

Sketches live only as long as their index (a day's pipeline run, one speech draft) and are
never persisted, so a change of datasketch's hashing scheme cannot leave stale ones behind.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from datasketch import MinHash, MinHashLSH

from agentfleet_runtime.dedup.normalize import Fingerprint, fingerprint, jaccard, same_facts

__all__ = ["Match", "NearDuplicateIndex", "dedupe", "lsh_params", "verified_similarity"]

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Match(Generic[K]):
    """An indexed text found to near-duplicate a query, with its exact Jaccard similarity."""

    key: K
    similarity: float


def lsh_params(threshold: float, num_perm: int, max_miss: float = 0.001) -> tuple[int, int]:
    """Return LSH ``(bands, rows)`` missing a pair at ``threshold`` with prob. ≤ ``max_miss``.

    A pair with Jaccard similarity ``s`` shares at least one band with probability
    ``1 - (1 - s**r)**b``. Among the ``(b, r)`` with ``b * r <= num_perm`` that keep the miss
    probability at ``threshold`` within ``max_miss``, the largest ``r`` is taken, as it admits
    the fewest dissimilar candidates (verification cost). For 0.8 and 128 permutations this
    is 25 bands of 5 rows: miss probability 5e-5 at 0.8; candidate probability ≈ 55 % at
    0.5 and 6 % at 0.3.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
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
    (:func:`agentfleet_runtime.dedup.normalize.same_facts`). This is the decision; LSH only
    proposes.
    """
    size_a, size_b = len(a.shingles), len(b.shingles)
    # Jaccard >= t needs the smaller set to be >= t times the larger: a free rejection of
    # most LSH candidates, before any set intersection.
    if not size_a or min(size_a, size_b) < threshold * max(size_a, size_b):
        return None
    if check_facts and not same_facts(a, b):
        return None
    similarity = jaccard(a.shingles, b.shingles)
    return similarity if similarity >= threshold else None


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
        num_perm: MinHash permutations.
        check_facts: also require :func:`agentfleet_runtime.dedup.normalize.same_facts`.

    """

    def __init__(
        self, threshold: float = 0.8, num_perm: int = 128, *, check_facts: bool = True
    ) -> None:
        self.threshold = threshold
        self.check_facts = check_facts
        self._lsh = MinHashLSH(num_perm=num_perm, params=lsh_params(threshold, num_perm))
        # Every sketch is a copy of this empty one: MinHash() would draw its 128 permutations
        # again from a seeded generator each time, which costs more than hashing a line.
        self._empty = MinHash(num_perm=num_perm)
        self._entries: dict[K, Fingerprint] = {}

    def add(self, key: K, text: str) -> None:
        """Index ``text`` under ``key``; raises :class:`KeyError` if ``key`` is present."""
        fp = fingerprint(text)
        self._insert(key, fp, self._sketch(fp))

    def find(self, text: str) -> list[Match[K]]:
        """Return the indexed texts that near-duplicate ``text``, most similar first."""
        fp = fingerprint(text)
        return self._find(fp, self._sketch(fp))

    def _sketch(self, fp: Fingerprint) -> MinHash | None:
        """The MinHash of a fingerprint's shingles; None when it has none (never matches)."""
        if not fp.shingles:
            return None
        sketch = self._empty.copy()
        sketch.update_batch([shingle.encode() for shingle in fp.shingles])
        return sketch

    def _insert(self, key: K, fp: Fingerprint, sketch: MinHash | None) -> None:
        """Store a fingerprint, and its sketch in the LSH if it has one."""
        if key in self._entries:
            raise KeyError(f"key already indexed: {key!r}")
        self._entries[key] = fp
        if sketch is not None:
            self._lsh.insert(key, sketch, check_duplication=False)

    def _find(self, fp: Fingerprint, sketch: MinHash | None) -> list[Match[K]]:
        """LSH candidates of a prepared query, verified by exact Jaccard and same facts."""
        if sketch is None:
            return []
        matches: list[Match[K]] = []
        for key in self._lsh.query(sketch):
            similarity = verified_similarity(
                fp, self._entries[key], self.threshold, self.check_facts
            )
            if similarity is not None:
                matches.append(Match(key, similarity))
        matches.sort(key=lambda m: m.similarity, reverse=True)
        return matches


def dedupe(
    texts: Sequence[str],
    *,
    threshold: float = 0.8,
    num_perm: int = 128,
    check_facts: bool = True,
) -> list[int]:
    """Return the indices of ``texts`` to keep: each text not near-duplicating a kept one.

    The first occurrence wins, and a text is compared with the texts kept so far only (a
    dropped text cannot cause further drops). Texts with nothing left after normalisation
    are always kept. Exactly what adding the kept texts one by one to a
    :class:`NearDuplicateIndex` gives; each text is fingerprinted and sketched once.
    """
    index: NearDuplicateIndex[int] = NearDuplicateIndex(
        threshold, num_perm, check_facts=check_facts
    )
    keep: list[int] = []
    for i, text in enumerate(texts):
        fp = fingerprint(text)
        sketch = index._sketch(fp)
        if not index._find(fp, sketch):
            index._insert(i, fp, sketch)
            keep.append(i)
    return keep
