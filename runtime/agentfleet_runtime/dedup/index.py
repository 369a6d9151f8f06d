"""Near-duplicate index: datasketch MinHash LSH for candidates, exact Jaccard to decide.

MinHash LSH alone is a poor judge at the threshold itself: with 128 permutations tuned to
0.8, a pair whose Jaccard similarity is exactly 0.8 becomes a candidate only about 40 % of
the time. So the LSH here is deliberately generous (bands chosen so that a pair at the
threshold is missed with probability ≤ ``max_miss``, 0.1 % by default), and every candidate
is then verified on the stored shingle sets: the exact Jaccard similarity must reach the
threshold and the texts must state the same facts (numbers, polarity, no substituted
content word: :func:`agentfleet_runtime.dedup.normalize.same_facts`). LSH decides only what is
compared, never what is a duplicate.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

import numpy as np
import numpy.typing as npt
from datasketch import LeanMinHash, MinHashLSH

from agentfleet_runtime.dedup.normalize import Fingerprint, fingerprint, jaccard, same_facts
from agentfleet_runtime.dedup.sketch import SCHEME, SignatureBuilder

__all__ = [
    "Match",
    "NearDuplicateIndex",
    "dedupe",
    "lsh_params",
    "verified_similarity",
]

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


ESTIMATE_MARGIN = 0.15
"""How far below the threshold a MinHash estimate may fall and still be checked exactly."""


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
        max_miss: target probability that LSH misses a pair exactly at ``threshold``.
        bands_rows: explicit LSH ``(bands, rows)``, overriding :func:`lsh_params`.
        check_facts: also require :func:`agentfleet_runtime.dedup.normalize.same_facts`.
        seed: MinHash permutation seed.

    """

    def __init__(
        self,
        threshold: float = 0.8,
        num_perm: int = 128,
        *,
        max_miss: float = 0.001,
        bands_rows: tuple[int, int] | None = None,
        check_facts: bool = True,
        seed: int = 1,
    ) -> None:
        self.threshold = threshold
        self.check_facts = check_facts
        self.bands_rows = bands_rows or lsh_params(threshold, num_perm, max_miss)
        self._builder = SignatureBuilder(num_perm=num_perm, seed=seed)
        self._lsh = MinHashLSH(num_perm=num_perm, params=self.bands_rows)
        self._entries: dict[K, Fingerprint] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def add(self, key: K, text: str) -> None:
        """Index ``text`` under ``key``; raises :class:`KeyError` if ``key`` is present."""
        self.add_many([(key, text)])

    def add_many(self, items: Iterable[tuple[K, str]]) -> None:
        """Index many ``(key, text)`` pairs, computing their signatures in one batch."""
        pairs = list(items)
        prints = [fingerprint(text) for _, text in pairs]
        signatures = self._builder.build([p.normalized for p in prints])
        for (key, _), fp, signature in zip(pairs, prints, signatures, strict=True):
            self._insert(key, fp, signature)

    def find(self, text: str) -> list[Match[K]]:
        """Return the indexed texts that near-duplicate ``text``, most similar first."""
        fp = fingerprint(text)
        return self._find(fp, self._builder.build([fp.normalized])[0])

    def is_duplicate(self, text: str) -> bool:
        """Return whether any indexed text near-duplicates ``text``."""
        return bool(self.find(text))

    def remove(self, key: K) -> None:
        """Remove ``key`` from the index; raises :class:`KeyError` if it is absent."""
        fp = self._entries.pop(key)
        if fp.shingles:
            self._lsh.remove(key)

    def _insert(self, key: K, fp: Fingerprint, signature: npt.NDArray[np.uint32]) -> None:
        """Store a fingerprint and its signature (the latter only if there are shingles)."""
        if key in self._entries:
            raise KeyError(f"key already indexed: {key!r}")
        self._entries[key] = fp
        if fp.shingles:
            sketch = LeanMinHash(seed=self._builder.seed, hashvalues=signature, scheme=SCHEME)
            self._lsh.insert(key, sketch, check_duplication=False)

    def _find(self, fp: Fingerprint, signature: npt.NDArray[np.uint32]) -> list[Match[K]]:
        """LSH candidates of a prepared query, verified by exact Jaccard and same facts."""
        if not fp.shingles:
            return []
        sketch = LeanMinHash(seed=self._builder.seed, hashvalues=signature, scheme=SCHEME)
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
    use_minhash_lsh: bool = False,
) -> list[int]:
    """Return the indices of ``texts`` to keep: each text not near-duplicating a kept one.

    The first occurrence wins, and a text is compared with the texts kept so far only (a
    dropped text cannot cause further drops). Texts with nothing left after normalisation
    are always kept. Same decision as adding the kept texts one by one to a
    :class:`NearDuplicateIndex` with the same parameters.

    Bulk path: texts whose normal forms are identical are settled with a dict, the others
    are sketched in one numpy batch, and the LSH bands of all signatures are cut at once and
    looked up in plain dicts (the same banding as :class:`datasketch.MinHashLSH`, whose
    per-call overhead, about 80 µs per query + insert, would otherwise dominate the bulk
    cost). ``use_minhash_lsh=True`` runs the same algorithm through ``MinHashLSH`` instead.
    """
    prints = [fingerprint(text) for text in texts]
    bands, rows = lsh_params(threshold, num_perm)
    builder = SignatureBuilder(num_perm=num_perm)
    # Exact repeats after normalisation are the bulk of real duplicates (a re-extracted
    # memory, a pasted line): settle them before any sketching. They are always dropped:
    # their first occurrence was kept, or dropped as a near-duplicate of a kept text, which
    # they then near-duplicate as well (same shingles, same facts).
    seen_forms: set[object] = set()
    todo: list[int] = []
    for i, fp in enumerate(prints):
        if fp.normalized:
            form = (
                (fp.normalized, fp.numbers, fp.polarity, fp.content)
                if check_facts
                else fp.normalized
            )
            if form in seen_forms:
                continue
            seen_forms.add(form)
        todo.append(i)
    signatures = builder.build([prints[i].normalized for i in todo])

    if use_minhash_lsh:
        index: NearDuplicateIndex[int] = NearDuplicateIndex(
            threshold=threshold,
            num_perm=num_perm,
            bands_rows=(bands, rows),
            check_facts=check_facts,
        )
        keep: list[int] = []
        for i, signature in zip(todo, signatures, strict=True):
            if not index._find(prints[i], signature):
                index._insert(i, prints[i], signature)
                keep.append(i)
        return keep

    # Band keys: each band's `rows` uint32 values as one bytes object, for all texts at once
    # (numpy turns a void scalar into bytes).
    band_keys = cast(
        "list[list[bytes]]",
        np.ascontiguousarray(signatures[:, : bands * rows])
        .view(np.dtype((np.void, 4 * rows)))
        .reshape(len(todo), bands)
        .tolist(),
    )
    tables: list[dict[bytes, list[int]]] = [{} for _ in range(bands)]
    sizes = [len(fp.shingles) for fp in prints]
    row_of = {i: row for row, i in enumerate(todo)}
    # LSH proposes many candidates when messages share whole clauses; the signatures'
    # agreement estimates each candidate's Jaccard in one numpy step, and only those that
    # could plausibly reach the threshold go on to the exact check. With 128 permutations
    # the estimate's standard deviation is at most 0.045, so a margin of 0.15 drops a true
    # near-duplicate with a probability well under 1e-3.
    estimate_floor = threshold - ESTIMATE_MARGIN
    keep = []
    for row, (i, keys) in enumerate(zip(todo, band_keys, strict=True)):
        fp = prints[i]
        if fp.shingles:
            candidates: set[int] = set()
            for table, band_key in zip(tables, keys, strict=True):
                bucket = table.get(band_key)
                if bucket is not None:
                    candidates.update(bucket)
            # The size bound of verified_similarity: Jaccard >= t needs the smaller set to
            # be at least t times the larger one.
            low, high = threshold * sizes[i], sizes[i] / threshold
            plausible = [k for k in candidates if low <= sizes[k] <= high]
            duplicate = False
            if plausible:
                others = [row_of[k] for k in plausible]
                agreement = np.count_nonzero(signatures[others] == signatures[row], axis=1)
                for k, agree in zip(plausible, agreement.tolist(), strict=True):
                    if agree >= estimate_floor * num_perm and (
                        verified_similarity(fp, prints[k], threshold, check_facts) is not None
                    ):
                        duplicate = True
                        break
            if duplicate:
                continue
            for table, band_key in zip(tables, keys, strict=True):
                table.setdefault(band_key, []).append(i)
        keep.append(i)
    return keep
