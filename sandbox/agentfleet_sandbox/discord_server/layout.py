"""A message's components as a tree: what the server reads out of a message's layout.

Components nest: action rows hold buttons or a select, a container holds sections and
text displays, a section holds text displays and an accessory. These helpers walk that
tree for the text it shows, the component a person's click names, and the ids Discord
gives components sent without one. No I/O; the REST layer checks a tree before it is
stored (``rest/rich.py``), so these may trust its shape.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final

# Component types (Discord's values).
ACTION_ROW: Final = 1
BUTTON: Final = 2
STRING_SELECT: Final = 3
TEXT_INPUT: Final = 4
USER_SELECT: Final = 5
ROLE_SELECT: Final = 6
MENTIONABLE_SELECT: Final = 7
CHANNEL_SELECT: Final = 8
SECTION: Final = 9
TEXT_DISPLAY: Final = 10
THUMBNAIL: Final = 11
MEDIA_GALLERY: Final = 12
FILE: Final = 13
SEPARATOR: Final = 14
CONTAINER: Final = 17

SELECTS: Final = frozenset(
    {STRING_SELECT, USER_SELECT, ROLE_SELECT, MENTIONABLE_SELECT, CHANNEL_SELECT}
)
#: Components a person can use, so a click on them becomes an interaction.
INTERACTIVE: Final = SELECTS | {BUTTON}
#: Button style 5 opens a URL in the person's browser and never reaches the app.
LINK_STYLE: Final = 5


def walk(components: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Yield every component of the tree, parents before children, in display order."""
    for component in components:
        yield component
        yield from walk(component.get("components") or ())
        accessory = component.get("accessory")
        if isinstance(accessory, dict):
            yield from walk((accessory,))


def texts(components: Iterable[dict[str, Any]]) -> list[str]:
    """Return the markdown of every text display, in display order."""
    return [str(c.get("content") or "") for c in walk(components) if c.get("type") == TEXT_DISPLAY]


def find(components: Iterable[dict[str, Any]], custom_id: str) -> dict[str, Any] | None:
    """Return the interactive component with ``custom_id``, if the tree has one."""
    return next(
        (
            c
            for c in walk(components)
            if c.get("type") in INTERACTIVE and c.get("custom_id") == custom_id
        ),
        None,
    )


def numbered(components: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return a copy of the tree where every component has an ``id``.

    Discord documents that a component sent without ``id`` gets the next unused integer,
    counting from 1 in display order; ids the sender chose are kept.
    """
    tree = copy.deepcopy(list(components))
    used = {c["id"] for c in walk(tree) if isinstance(c.get("id"), int)}
    candidate = 1
    for component in walk(tree):
        if isinstance(component.get("id"), int):
            continue
        while candidate in used:
            candidate += 1
        component["id"] = candidate
        used.add(candidate)
    return tree
