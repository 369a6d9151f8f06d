"""Near-duplicate detection for Japanese chat text (plain Python, no I/O).

Used by autonomous speech to stop a persona repeating itself (:class:`NearDuplicateIndex`
over its recent lines) and by the 06:00 pipeline to drop near-duplicate extracted memories
(:func:`dedupe`). Texts are normalised (NFKC, Discord markup, URLs, emoji, punctuation and
spacing removed), cut into character 3-grams (2-grams when very short), and compared with
datasketch MinHash LSH for candidates followed by exact Jaccard verification; texts stating
different facts (numbers, negation, a replaced content word) are never merged.
"""

from agentfleet_runtime.dedup.index import Match, NearDuplicateIndex, dedupe, lsh_params
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
]
