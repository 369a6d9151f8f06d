"""Pure builders: one function per child manifest, from the fleet and its typed spec.

No I/O here: each builder returns the full desired object (a plain dict) that the reconciler
server-side applies. Builders are deterministic, so the same spec gives byte-identical
manifests and an unchanged fleet costs no writes.
"""
