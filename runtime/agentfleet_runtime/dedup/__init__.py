"""Near-duplicate detection for Japanese chat text (plain Python, no I/O).

Used by autonomous speech to stop a persona repeating itself (:class:`NearDuplicateIndex`
over its recent lines) and by the 06:00 pipeline to drop near-duplicate extracted memories
(:func:`dedupe`). Texts are normalised (NFKC, Discord markup, URLs, emoji, punctuation and
spacing removed), cut into character 3-grams (2-grams when very short), and a pair is a
near-duplicate when its exact Jaccard similarity reaches the threshold and both texts state
the same facts (numbers, negation, no replaced content word).

Which pairs are compared: at the sizes the fleet has (20 recent lines, a day's few hundred
memories) every one, which is faster than sketching; datasketch MinHash LSH proposes them
only for :func:`dedupe` of :data:`LSH_MIN_TEXTS` texts or more, where comparing every pair
grows quadratically. datasketch (and the scipy its package imports) is loaded only then, so
the fleet's processes do not carry it.
"""

from agentfleet_runtime.dedup.index import (
    LSH_MIN_TEXTS,
    Match,
    NearDuplicateIndex,
    dedupe,
    lsh_params,
    verified_similarity,
)
from agentfleet_runtime.dedup.normalize import (
    Fingerprint,
    fingerprint,
    jaccard,
    normalize,
    numbers,
    same_facts,
    shingles,
)

__all__ = [
    "LSH_MIN_TEXTS",
    "Fingerprint",
    "Match",
    "NearDuplicateIndex",
    "dedupe",
    "fingerprint",
    "jaccard",
    "lsh_params",
    "normalize",
    "numbers",
    "same_facts",
    "shingles",
    "verified_similarity",
]
