"""MinHash signatures of normalised texts, computed in bulk with numpy.

datasketch's default MinHash hashes every shingle with SHA-1 and then updates 128
permutations one shingle at a time; for chat lines that is most of the cost. Here a shingle
(at most three characters) is packed losslessly into one 64-bit integer from its code points
(21 bits each), mixed with the 64-bit MurmurHash3 finalizer and cut to 32 bits: no Python
``hash()`` (randomised per process), no hashlib call per shingle, and the same value on
every machine. The permutations are datasketch's own ``affine32`` scheme (same seed, same
parameters), applied to a whole batch of texts as one matrix, so a signature computed here is
bit-for-bit the one ``MinHash(hashfunc=shingle_hash).update_batch(shingles)`` would give and
can be handed to :class:`datasketch.MinHashLSH` as a :class:`datasketch.LeanMinHash`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from datasketch import MinHash

from agentfleet_runtime.dedup.normalize import SHORT_TEXT_MAX_CHARS

__all__ = ["SCHEME", "SignatureBuilder", "shingle_hash"]

SCHEME = "affine32"
"""datasketch permutation scheme of every signature built here (the 2.0 default)."""

_MASK64 = (1 << 64) - 1
_TAG_BIGRAM = 1 << 63
_TAG_UNIGRAM = 1 << 62
# Keep the batch's (shingles x num_perm) uint32 matrix around 16 MB whatever the text lengths.
_MAX_SHINGLES_PER_BATCH = 32_768


def _fmix64(value: int) -> int:
    """MurmurHash3's 64-bit finalizer (an avalanching bijection) on a Python int."""
    value ^= value >> 33
    value = (value * 0xFF51AFD7ED558CCD) & _MASK64
    value ^= value >> 33
    value = (value * 0xC4CEB9FE1A85EC53) & _MASK64
    return value ^ (value >> 33)


def shingle_hash(shingle: str) -> int:
    """Return the 32-bit hash of a shingle of one to three characters.

    The code points are packed into disjoint bit fields (with a tag bit telling 1-, 2- and
    3-grams apart), so distinct shingles never share a packed value; the finalizer then
    spreads them. This is the scalar reference of what :class:`SignatureBuilder` computes
    vectorised; it can be passed as ``hashfunc`` to :class:`datasketch.MinHash`.
    """
    points = [ord(ch) for ch in shingle]
    if len(points) == 3:
        packed = (points[0] << 42) | (points[1] << 21) | points[2]
    elif len(points) == 2:
        packed = _TAG_BIGRAM | (points[0] << 21) | points[1]
    elif len(points) == 1:
        packed = _TAG_UNIGRAM | points[0]
    else:
        raise ValueError(f"shingles have 1 to 3 characters, got {len(points)}")
    return _fmix64(packed) >> 32


def _fmix64_array(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """Vectorised :func:`_fmix64` (uint64 arithmetic wraps, which is the modulo 2**64)."""
    values = values ^ (values >> np.uint64(33))
    values = values * np.uint64(0xFF51AFD7ED558CCD)
    values = values ^ (values >> np.uint64(33))
    values = values * np.uint64(0xC4CEB9FE1A85EC53)
    return values ^ (values >> np.uint64(33))


def _fmix32_array(values: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
    """Datasketch's affine32 pre-mix: MurmurHash3's 32-bit finalizer."""
    values = values ^ (values >> np.uint32(16))
    values = values * np.uint32(0x85EBCA6B)
    values = values ^ (values >> np.uint32(13))
    values = values * np.uint32(0xC2B2AE35)
    return values ^ (values >> np.uint32(16))


class SignatureBuilder:
    """Builds datasketch-compatible MinHash signatures for many normalised texts at once.

    Args:
        num_perm: number of permutations (signature length).
        seed: datasketch permutation seed; signatures are comparable only with equal seeds.

    """

    def __init__(self, num_perm: int = 128, seed: int = 1) -> None:
        self.num_perm = num_perm
        self.seed = seed
        # Take the permutations from datasketch itself, so signatures stay compatible with
        # MinHash objects built the ordinary way (same seed, same scheme).
        template = MinHash(num_perm=num_perm, seed=seed, scheme=SCHEME)
        perm_a, perm_b = template.permutations
        self._a: npt.NDArray[np.uint32] = np.asarray(perm_a, dtype=np.uint32)[:, None]
        self._b: npt.NDArray[np.uint32] = np.asarray(perm_b, dtype=np.uint32)[:, None]

    def empty(self) -> npt.NDArray[np.uint32]:
        """Return the signature of the empty set (all maximal values), as datasketch does."""
        return np.full(self.num_perm, np.iinfo(np.uint32).max, dtype=np.uint32)

    def build(self, normalized: Sequence[str]) -> npt.NDArray[np.uint32]:
        """Return a ``(len(normalized), num_perm)`` uint32 matrix of signatures.

        Texts are shingled exactly as
        :func:`agentfleet_runtime.dedup.normalize.shingles_of_normalized` does (3-grams, 2-grams
        for short texts); an empty text gets :meth:`empty`.
        """
        out = np.empty((len(normalized), self.num_perm), dtype=np.uint32)
        start = 0
        while start < len(normalized):
            # Batch by shingle count, not by text count, to bound memory for long texts.
            stop = start
            budget = 0
            while stop < len(normalized) and (
                stop == start or budget + len(normalized[stop]) <= _MAX_SHINGLES_PER_BATCH
            ):
                budget += len(normalized[stop])
                stop += 1
            out[start:stop] = self._build_batch(normalized[start:stop])
            start = stop
        return out

    def _build_batch(self, texts: Sequence[str]) -> npt.NDArray[np.uint32]:
        """Signatures of one batch: all shingles hashed and permuted as one matrix."""
        lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
        # Same rule as shingle_size(), vectorised.
        sizes = np.where(lengths > SHORT_TEXT_MAX_CHARS, 3, np.where(lengths >= 2, 2, 1))
        counts = np.where(lengths > 0, lengths - sizes + 1, 0)
        result = np.empty((len(texts), self.num_perm), dtype=np.uint32)
        result[:] = self.empty()
        total = int(counts.sum())
        if total == 0:
            return result

        # Code points of all texts back to back (+2 padding so i+1, i+2 never overflow).
        points = np.frombuffer(("".join(texts) + "\0\0").encode("utf-32-le"), dtype=np.uint32)
        points = points.astype(np.uint64)
        text_starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        shingle_starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        # Position of every shingle in `points`, and the n-gram size it uses.
        owner = np.repeat(np.arange(len(texts)), counts)
        pos = text_starts[owner] + (np.arange(total) - shingle_starts[owner])
        size = sizes[owner]

        c0 = points[pos]
        c1 = points[pos + 1]
        c2 = points[pos + 2]
        packed = np.where(
            size == 3,
            (c0 << np.uint64(42)) | (c1 << np.uint64(21)) | c2,
            np.where(
                size == 2,
                np.uint64(_TAG_BIGRAM) | (c0 << np.uint64(21)) | c1,
                np.uint64(_TAG_UNIGRAM) | c0,
            ),
        )
        hashes = (_fmix64_array(packed) >> np.uint64(32)).astype(np.uint32)
        # datasketch affine32: fmix32 pre-mix, then a*h + b mod 2**32 per permutation. The
        # matrix is permutation-major, (num_perm, shingles), and updated in place, so the
        # per-text minimum is a reduction over contiguous memory: about 6x faster than the
        # shingle-major layout with temporaries.
        mixed = _fmix32_array(hashes)[None, :]
        permuted = np.empty((self.num_perm, total), dtype=np.uint32)
        np.multiply(self._a, mixed, out=permuted)
        np.add(permuted, self._b, out=permuted)
        nonempty = counts > 0
        result[nonempty] = np.minimum.reduceat(permuted, shingle_starts[nonempty], axis=1).T
        return result
