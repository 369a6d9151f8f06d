"""Discord channel permissions, computed the way Discord computes them, and what each bot needs.

Discord answers a bot's missing permission only when the bot tries (403, code 50013), so
the fleet would find out at its first reply in that channel. The doctor computes the
same answer up front from the guild's roles and the channel's overwrites, following
Discord's documented algorithm ("Permission Overwrites" in the developer docs): the
owner and administrators may do everything; otherwise @everyone's permissions plus the
member's roles', then the channel's @everyone overwrite, the member's roles' overwrites
together, and the member's own overwrite, each applied as deny-then-allow.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

ADMINISTRATOR: Final = 1 << 3
VIEW_CHANNEL: Final = 1 << 10
SEND_MESSAGES: Final = 1 << 11
READ_MESSAGE_HISTORY: Final = 1 << 16
ALL: Final = (1 << 53) - 1

#: How the Discord client's settings name each permission the fleet uses.
NAMES: Final = {
    VIEW_CHANNEL: "View Channel",
    SEND_MESSAGES: "Send Messages",
    READ_MESSAGE_HISTORY: "Read Message History",
}

#: Reception only reads: every message (gateway) and the replied-to message (history).
RECEPTION_NEEDS: Final = VIEW_CHANNEL | READ_MESSAGE_HISTORY
#: A persona posts (and shows "typing…", which Discord allows only to those who may
#: send) replies to a message, which Discord refuses without the history permission.
#: It sends no embeds, files or reactions, and mentions nobody.
PERSONA_NEEDS: Final = VIEW_CHANNEL | SEND_MESSAGES | READ_MESSAGE_HISTORY
#: The ``permissions`` of every bot's invite URL: what any of them needs (68608).
INVITE_PERMISSIONS: Final = RECEPTION_NEEDS | PERSONA_NEEDS

OVERWRITE_ROLE: Final = 0
OVERWRITE_MEMBER: Final = 1


@dataclass(frozen=True, slots=True)
class Overwrite:
    """A channel permission overwrite for a role (type 0) or a member (type 1)."""

    id: int
    type: int
    allow: int
    deny: int


@dataclass(frozen=True, slots=True)
class Member:
    """What permissions depend on: who the member is and which roles they hold."""

    user_id: int
    role_ids: frozenset[int]


def needs(bot: str) -> int:
    """The permissions ``bot`` (reception or a persona) needs in every fleet channel."""
    return RECEPTION_NEEDS if bot == "reception" else PERSONA_NEEDS


def names(permissions: int) -> list[str]:
    """The names of the fleet's permissions set in ``permissions``, in a stable order."""
    return [name for bit, name in NAMES.items() if permissions & bit]


def base_permissions(
    member: Member, *, guild_id: int, owner_id: int, role_permissions: Mapping[int, int]
) -> int:
    """The member's guild-wide permissions: @everyone's (its id is the guild's) and roles'."""
    if member.user_id == owner_id:
        return ALL
    permissions = role_permissions.get(guild_id, 0)
    for role_id in member.role_ids:
        permissions |= role_permissions.get(role_id, 0)
    return ALL if permissions & ADMINISTRATOR else permissions


def channel_permissions(
    member: Member,
    *,
    guild_id: int,
    owner_id: int,
    role_permissions: Mapping[int, int],
    overwrites: Iterable[Overwrite],
) -> int:
    """The member's permissions in one channel, overwrites applied as Discord applies them."""
    permissions = base_permissions(
        member, guild_id=guild_id, owner_id=owner_id, role_permissions=role_permissions
    )
    if permissions & ADMINISTRATOR:
        return ALL
    by_target = {(o.type, o.id): o for o in overwrites}
    everyone = by_target.get((OVERWRITE_ROLE, guild_id))
    if everyone is not None:
        permissions = (permissions & ~everyone.deny) | everyone.allow
    allow = deny = 0
    for role_id in member.role_ids:
        role = by_target.get((OVERWRITE_ROLE, role_id))
        if role is not None:
            allow, deny = allow | role.allow, deny | role.deny
    permissions = (permissions & ~deny) | allow
    own = by_target.get((OVERWRITE_MEMBER, member.user_id))
    if own is not None:
        permissions = (permissions & ~own.deny) | own.allow
    # A channel the member cannot see grants nothing else either.
    return permissions if permissions & VIEW_CHANNEL else 0
