"""Decide whether a child needs an apply: is the desired manifest inside the live one.

The API server adds defaults (``protocol: TCP``, ``terminationMessagePath`` ...), omits empty
values and canonicalises quantities (``0.5`` → ``500m``). A plain equality would see drift
on every pass and write forever; this containment check sees only what we set and someone
changed or removed, which is exactly what a server-side apply would put back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentfleet_operator.quantity import parse_quantity

#: Maps whose values are resource quantities (container resources, volume claim sizes).
_QUANTITY_MAPS = frozenset({"requests", "limits"})


def _empty(value: object) -> bool:
    # The API server omits empty and zero values of optional fields when serialising.
    return value is None or value == {} or value == [] or value == "" or value is False


def contains(live: Any, desired: Any, *, quantities: bool = False) -> bool:
    """Whether every value set in ``desired`` is present and equal in ``live``.

    Dicts may have extra keys in ``live``; lists must match element by element (extra
    elements mean someone else added them, and an apply would remove ours' competitors only
    if we own them, so they count as drift); quantities compare by value.
    """
    if isinstance(desired, Mapping):
        if not isinstance(live, Mapping):
            return _empty(desired) and _empty(live)
        for key, value in desired.items():
            if key not in live:
                if _empty(value):
                    continue
                return False
            if not contains(live[key], value, quantities=quantities or key in _QUANTITY_MAPS):
                return False
        return True
    if isinstance(desired, list):
        if not isinstance(live, list):
            return _empty(desired) and _empty(live)
        return len(live) == len(desired) and all(
            contains(lv, dv) for lv, dv in zip(live, desired, strict=True)
        )
    if desired == live:
        return True
    if _empty(desired) and _empty(live):
        return True
    if quantities:
        a, b = parse_quantity(desired), parse_quantity(live)
        return a is not None and a == b
    # The API returns int-or-string values as sent, but JSON round trips may turn 1.0 into 1.
    if isinstance(desired, int | float) and isinstance(live, int | float):
        return float(desired) == float(live)
    return False


def drift(live: Mapping[str, Any] | None, desired: Mapping[str, Any]) -> str | None:
    """Return why ``live`` needs an apply (for logs), or None when it is up to date."""
    if live is None:
        return "missing"
    for section in ("metadata", "spec", "data", "automountServiceAccountToken", "type"):
        if section in desired and not contains(live.get(section), desired[section]):
            return f"{section} differs"
    return None
