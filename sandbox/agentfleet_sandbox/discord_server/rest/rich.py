"""What a message shows: content, embeds and components, checked as Discord checks them.

A bot's send and edit, an interaction's answer and a webhook's follow-up all carry the
same parts: ``content``, ``embeds``, ``components`` and ``flags``. :func:`read_new` and
:func:`read_edit` hold them to Discord's documented rules and limits and answer the way
Discord does (400 "Invalid Form Body" naming the field at fault, 50006 for a message that
would show nothing), so a bot that works here sends what Discord accepts:

- a message needs at least one of content, embeds, components, stickers or attachments;
- at most 10 embeds, 6000 characters across them, 25 fields each, and the per-field limits;
- without :data:`FLAG_COMPONENTS_V2`, up to 5 action rows of up to 5 buttons or one select;
- with it, any layout (sections, text displays, containers...) of up to 40 components and
  4000 characters of text, and neither ``content`` nor ``embeds``; once set, the flag stays.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

from .. import layout
from ..responses import ApiError, invalid_form_body, missing_field
from ..world import (
    FLAG_COMPONENTS_V2,
    FLAG_SUPPRESS_EMBEDS,
    FLAG_SUPPRESS_NOTIFICATIONS,
    Message,
)
from .validation import check_content

MAX_EMBEDS: Final = 10
MAX_EMBED_CHARS: Final = 6000
MAX_EMBED_FIELDS: Final = 25
MAX_COLOUR: Final = 0xFFFFFF
#: Text limits of an embed, by path inside the embed; all of them count towards 6000.
EMBED_TEXT_LIMITS: Final[Mapping[tuple[str, ...], int]] = {
    ("title",): 256,
    ("description",): 4096,
    ("footer", "text"): 2048,
    ("author", "name"): 256,
}
FIELD_TEXT_LIMITS: Final[Mapping[str, int]] = {"name": 256, "value": 1024}
MAX_ACTION_ROWS: Final = 5
MAX_ROW_ITEMS: Final = 5
MAX_V2_COMPONENTS: Final = 40
MAX_V2_TEXT: Final = 4000
MAX_CUSTOM_ID: Final = 100
MAX_BUTTON_LABEL: Final = 80
MAX_SELECT_OPTIONS: Final = 25
MAX_SECTION_TEXTS: Final = 3

#: The fields of a message body the server acts on, in a send, an edit or an interaction's
#: answer; a request's other fields are noted in the log as not modelled.
MESSAGE_BODY_FIELDS: Final = frozenset(
    {"content", "embeds", "components", "flags", "allowed_mentions", "attachments"}
)
#: Flags a sender may set; Discord sets the others itself.
SENDABLE_FLAGS: Final = FLAG_SUPPRESS_EMBEDS | FLAG_SUPPRESS_NOTIFICATIONS | FLAG_COMPONENTS_V2
#: What may sit at the top of a components-v2 message, and inside a container.
V2_TOP_LEVEL: Final = frozenset(
    {
        layout.ACTION_ROW,
        layout.SECTION,
        layout.TEXT_DISPLAY,
        layout.MEDIA_GALLERY,
        layout.FILE,
        layout.SEPARATOR,
        layout.CONTAINER,
    }
)
CONTAINER_CHILDREN: Final = V2_TOP_LEVEL - {layout.CONTAINER}
SECTION_ACCESSORIES: Final = frozenset({layout.BUTTON, layout.THUMBNAIL})
V2_ONLY_FIELDS: Final = ("content", "embeds")
"""The parts a components-v2 message may not use: its layout is its text."""


@dataclass(frozen=True, slots=True)
class Shown:
    """A message's visible parts after a send or an edit, already checked."""

    content: str
    embeds: list[dict[str, Any]]
    components: list[dict[str, Any]]
    flags: int
    """Only the :data:`SENDABLE_FLAGS` bits; the caller adds ephemeral or loading."""

    def apply(self, message: Message) -> None:
        """Make ``message`` show these parts (an edit), keeping the flags Discord owns."""
        message.content = self.content
        message.embeds = self.embeds
        message.components = self.components
        message.flags = (message.flags & ~SENDABLE_FLAGS) | self.flags


def read_new(body: Mapping[str, Any], *, other_parts: bool = False) -> Shown:
    """Check the parts of a new message; ``other_parts`` says it has stickers or files."""
    content = str(body.get("content") or "")
    check_content(content)
    flags = _int_flags(body.get("flags")) & SENDABLE_FLAGS
    shown = Shown(
        content=content,
        embeds=checked_embeds(body.get("embeds")),
        components=checked_components(body.get("components"), v2=bool(flags & FLAG_COMPONENTS_V2)),
        flags=flags,
    )
    _check_whole(shown, other_parts=other_parts or bool(body.get("sticker_ids")))
    return shown


def read_edit(body: Mapping[str, Any], message: Message, *, other_parts: bool = False) -> Shown:
    """Check an edit of ``message``: parts the body leaves out stay as they are.

    Only suppress-embeds may be switched; components v2 may be switched on, never off.
    """
    if "content" in body:
        content = str(body.get("content") or "")
        check_content(content)
    else:
        content = message.content
    kept = message.flags & SENDABLE_FLAGS
    if "flags" in body:
        asked = _int_flags(body.get("flags"))
        switchable = FLAG_SUPPRESS_EMBEDS | FLAG_COMPONENTS_V2
        kept = (kept & ~FLAG_SUPPRESS_EMBEDS) | (asked & switchable)
    v2 = bool(kept & FLAG_COMPONENTS_V2)
    shown = Shown(
        content=content,
        embeds=checked_embeds(body.get("embeds")) if "embeds" in body else message.embeds,
        components=(
            checked_components(body.get("components"), v2=v2)
            if "components" in body
            else message.components
        ),
        flags=kept,
    )
    _check_whole(shown, other_parts=other_parts)
    return shown


def _int_flags(raw: Any) -> int:
    try:
        return int(raw or 0)
    except (TypeError, ValueError):
        raise invalid_form_body(
            "flags", "NUMBER_TYPE_COERCE", f"Value {raw!r} is not int."
        ) from None


def _check_whole(shown: Shown, *, other_parts: bool) -> None:
    """Refuse what Discord refuses of a message as a whole: v2 with text, or nothing."""
    if shown.flags & FLAG_COMPONENTS_V2:
        for name in V2_ONLY_FIELDS:
            if getattr(shown, name):
                raise invalid_form_body(
                    name,
                    "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
                    f"The '{name}' field cannot be used when using MessageFlags.IS_COMPONENTS_V2",
                )
    if not (shown.content.strip() or shown.embeds or shown.components or other_parts):
        raise ApiError(400, 50006, "Cannot send an empty message")


# -- embeds ----------------------------------------------------------------------------


def checked_embeds(raw: Any) -> list[dict[str, Any]]:
    """Return the embeds as Discord stores them (``type`` "rich", fields not inline)."""
    embeds = _list_of_objects(raw, "embeds")
    if len(embeds) > MAX_EMBEDS:
        raise invalid_form_body(
            "embeds", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_EMBEDS} or fewer in length."
        )
    total = sum(_embed_chars(embed, f"embeds.{i}") for i, embed in enumerate(embeds))
    if total > MAX_EMBED_CHARS:
        raise invalid_form_body(
            "embeds",
            "MAX_EMBED_SIZE_EXCEEDED",
            f"Embed size exceeds maximum size of {MAX_EMBED_CHARS}",
        )
    return [_stored_embed(embed) for embed in embeds]


def _embed_chars(embed: Mapping[str, Any], path: str) -> int:
    """Check one embed's limits; return how many of the 6000 characters it uses."""
    used = 0
    for keys, limit in EMBED_TEXT_LIMITS.items():
        value: Any = embed
        for key in keys:
            value = value.get(key) if isinstance(value, Mapping) else None
        used += _text_within(value, f"{path}.{'.'.join(keys)}", limit)
    colour = embed.get("color")
    if colour is not None and (not isinstance(colour, int) or not 0 <= colour <= MAX_COLOUR):
        raise invalid_form_body(
            f"{path}.color",
            "NUMBER_TYPE_MAX",
            f"int value should be less than or equal to {MAX_COLOUR}.",
        )
    fields = _list_of_objects(embed.get("fields"), f"{path}.fields")
    if len(fields) > MAX_EMBED_FIELDS:
        raise invalid_form_body(
            f"{path}.fields",
            "BASE_TYPE_MAX_LENGTH",
            f"Must be {MAX_EMBED_FIELDS} or fewer in length.",
        )
    for i, item in enumerate(fields):
        for key, limit in FIELD_TEXT_LIMITS.items():
            where = f"{path}.fields.{i}.{key}"
            if item.get(key) is None:
                raise missing_field(where)
            used += _text_within(item.get(key), where, limit)
    return used


def _stored_embed(embed: Mapping[str, Any]) -> dict[str, Any]:
    stored = {"type": "rich", **embed}
    if "fields" in embed:
        stored["fields"] = [{"inline": False, **item} for item in embed["fields"]]
    return stored


# -- components ------------------------------------------------------------------------


def checked_components(raw: Any, *, v2: bool) -> list[dict[str, Any]]:
    """Return the components, every one given an ``id``, after Discord's layout checks."""
    components = _list_of_objects(raw, "components")
    if v2:
        count = sum(1 for _ in layout.walk(components))
        if count > MAX_V2_COMPONENTS:
            raise invalid_form_body(
                "components",
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {MAX_V2_COMPONENTS} or fewer in length (all components counted).",
            )
    elif len(components) > MAX_ACTION_ROWS:
        raise invalid_form_body(
            "components", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_ACTION_ROWS} or fewer in length."
        )
    top = V2_TOP_LEVEL if v2 else frozenset({layout.ACTION_ROW})
    for i, component in enumerate(components):
        _check_component(component, f"components.{i}", top)
    _check_unique_custom_ids(components)
    if v2 and sum(len(text) for text in layout.texts(components)) > MAX_V2_TEXT:
        raise invalid_form_body(
            "components",
            "BASE_TYPE_MAX_LENGTH",
            f"Text displays must hold {MAX_V2_TEXT} or fewer characters in all.",
        )
    return layout.numbered(components)


def _check_component(component: Mapping[str, Any], path: str, allowed: Collection[int]) -> None:
    """Check one component (and what it holds) where only ``allowed`` types may stand."""
    kind = component.get("type")
    if kind not in allowed:
        choices = ", ".join(str(t) for t in sorted(allowed))
        raise invalid_form_body(
            f"{path}.type",
            "UNION_TYPE_CHOICES",
            f'Value of field "type" must be one of ({choices},).',
        )
    if kind == layout.ACTION_ROW:
        _check_row(component, path)
    elif kind == layout.BUTTON:
        _check_button(component, path)
    elif kind in layout.SELECTS:
        _check_select(component, path)
    elif kind == layout.TEXT_DISPLAY:
        if not isinstance(component.get("content"), str):
            raise missing_field(f"{path}.content")
    elif kind == layout.SECTION:
        _check_children(component, path, {layout.TEXT_DISPLAY}, MAX_SECTION_TEXTS)
        accessory = component.get("accessory")
        if not isinstance(accessory, Mapping):
            raise missing_field(f"{path}.accessory")
        _check_component(accessory, f"{path}.accessory", SECTION_ACCESSORIES)
    elif kind == layout.CONTAINER:
        _check_children(component, path, CONTAINER_CHILDREN, MAX_V2_COMPONENTS)
    # Media galleries, files, separators and thumbnails are kept as sent.


def _check_row(row: Mapping[str, Any], path: str) -> None:
    """An action row holds up to 5 buttons, or one select and nothing else."""
    items = _check_children(row, path, layout.INTERACTIVE, MAX_ROW_ITEMS)
    if len(items) > 1 and any(item.get("type") in layout.SELECTS for item in items):
        raise invalid_form_body(
            f"{path}.components",
            "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
            "The specified component exceeds the maximum width",
        )


def _check_children(
    parent: Mapping[str, Any], path: str, allowed: Collection[int], most: int
) -> list[dict[str, Any]]:
    children = _list_of_objects(parent.get("components"), f"{path}.components")
    if not 1 <= len(children) <= most:
        raise invalid_form_body(
            f"{path}.components", "BASE_TYPE_BAD_LENGTH", f"Must be between 1 and {most} in length."
        )
    for i, child in enumerate(children):
        _check_component(child, f"{path}.components.{i}", allowed)
    return children


def _check_button(button: Mapping[str, Any], path: str) -> None:
    """A link button needs a URL and no custom id; any other button the reverse."""
    _text_within(button.get("label"), f"{path}.label", MAX_BUTTON_LABEL)
    if button.get("style") == layout.LINK_STYLE:
        if not button.get("url"):
            raise missing_field(f"{path}.url")
        return
    _check_custom_id(button, path)


def _check_select(select: Mapping[str, Any], path: str) -> None:
    _check_custom_id(select, path)
    if select.get("type") == layout.STRING_SELECT:
        options = _list_of_objects(select.get("options"), f"{path}.options")
        if not 1 <= len(options) <= MAX_SELECT_OPTIONS:
            raise invalid_form_body(
                f"{path}.options",
                "BASE_TYPE_BAD_LENGTH",
                f"Must be between 1 and {MAX_SELECT_OPTIONS} in length.",
            )


def _check_custom_id(component: Mapping[str, Any], path: str) -> None:
    custom_id = component.get("custom_id")
    if not custom_id:
        raise missing_field(f"{path}.custom_id")
    _text_within(custom_id, f"{path}.custom_id", MAX_CUSTOM_ID)


def _check_unique_custom_ids(components: list[dict[str, Any]]) -> None:
    """A click names its component by custom id, so Discord refuses two alike."""
    seen: set[str] = set()
    for component in layout.walk(components):
        custom_id = component.get("custom_id")
        if custom_id is None:
            continue
        if custom_id in seen:
            raise invalid_form_body(
                "components",
                "COMPONENT_CUSTOM_ID_DUPLICATED",
                f"Component custom id cannot be duplicated ({custom_id!r})",
            )
        seen.add(custom_id)


# -- shared ----------------------------------------------------------------------------


def _list_of_objects(raw: Any, path: str) -> list[dict[str, Any]]:
    """Return ``raw`` if it is a list of JSON objects (absent or null counts as empty)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise invalid_form_body(
            path, "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType"
        )
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise invalid_form_body(
                f"{path}.{i}", "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType"
            )
    return raw


def _text_within(value: Any, path: str, limit: int) -> int:
    """Check an optional text against its limit; return its length (0 when absent)."""
    if value is None:
        return 0
    text = str(value)
    if len(text) > limit:
        raise invalid_form_body(
            path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length."
        )
    return len(text)
