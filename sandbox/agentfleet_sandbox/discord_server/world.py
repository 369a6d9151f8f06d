"""The server's world: one guild, its channels, users, messages, commands and interactions.

Everything here is plain in-memory state plus the builders that turn it into Discord API
payloads. The payload shapes follow what discord.py 2.7 parses (``Message``, ``Member``,
``Guild._from_data``...): a missing required key there raises inside the client's gateway
parser and kills its ``start()``, so the builders err on the side of complete payloads.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from . import layout
from .attachments import Attachment, FileUpload, content_type_for, image_size, safe_filename

#: Discord's epoch (2015-01-01T00:00:00Z) in milliseconds; snowflakes count from it.
DISCORD_EPOCH_MS: Final = 1_420_070_400_000

#: Fixed ids are snowflakes of 2024-01-01 so they look (and sort) like real ones and stay
#: stable across runs: tests and the sandbox's .env can hard-code them.
_FIXED_BASE: Final = (1_704_067_200_000 - DISCORD_EPOCH_MS) << 22

GUILD_ID: Final = _FIXED_BASE + 1
#: Channel name → id, in the order shown in the guild (``position``).
CHANNEL_IDS: Final[Mapping[str, int]] = {
    "command_center": _FIXED_BASE + 11,
    "lounge": _FIXED_BASE + 12,
    "development": _FIXED_BASE + 13,
    "creation": _FIXED_BASE + 14,
}
#: Bot key → (user id, display name, colour used by the web page).
BOTS: Final[Mapping[str, tuple[int, str, str]]] = {
    "reception": (_FIXED_BASE + 21, "Reception", "#9aa0a6"),
    "spectra": (_FIXED_BASE + 22, "SPECTRA", "#3b82f6"),
    "lynq": (_FIXED_BASE + 23, "LYNQ", "#ef4444"),
    "paz": (_FIXED_BASE + 24, "PAZ", "#eab308"),
}
#: The first human's id; further humans count up from it.
_FIRST_HUMAN_ID: Final = _FIXED_BASE + 31
#: Default tokens; any mapping bot key → token can be configured instead.
DEFAULT_TOKENS: Final[Mapping[str, str]] = {key: f"sandbox-{key}-token" for key in BOTS}

# Gateway intents the server honours (discord.Intents bit positions).
INTENT_GUILDS: Final = 1 << 0
INTENT_GUILD_MESSAGES: Final = 1 << 9
INTENT_DIRECT_MESSAGES: Final = 1 << 12
INTENT_GUILD_MESSAGE_TYPING: Final = 1 << 11
INTENT_MESSAGE_CONTENT: Final = 1 << 15

# Message types and flags used here.
MESSAGE_DEFAULT: Final = 0
MESSAGE_REPLY: Final = 19
MESSAGE_CHAT_INPUT_COMMAND: Final = 20
FLAG_SUPPRESS_EMBEDS: Final = 1 << 2
FLAG_HAS_THREAD: Final = 1 << 5
FLAG_EPHEMERAL: Final = 1 << 6
FLAG_LOADING: Final = 1 << 7
FLAG_SUPPRESS_NOTIFICATIONS: Final = 1 << 12
FLAG_COMPONENTS_V2: Final = 1 << 15
"""The message is laid out by components alone: no ``content``, no ``embeds``."""

# Channel types (Discord's values).
CHANNEL_TEXT: Final = 0
CHANNEL_DM: Final = 1
CHANNEL_PUBLIC_THREAD: Final = 11
CHANNEL_PRIVATE_THREAD: Final = 12

# Interaction types, and what an interaction's ``type`` says it is.
INTERACTION_COMMAND: Final = 2
INTERACTION_COMPONENT: Final = 3
INTERACTION_AUTOCOMPLETE: Final = 4

#: Every permission bit; what an interaction reports the invoking member and the app have.
ALL_PERMISSIONS: Final = str((1 << 50) - 1)

# Permission bits the sandbox enforces (Discord's values).
ADMINISTRATOR: Final = 1 << 3
VIEW_CHANNEL: Final = 1 << 10
SEND_MESSAGES: Final = 1 << 11
READ_MESSAGE_HISTORY: Final = 1 << 16
CREATE_PUBLIC_THREADS: Final = 1 << 35
CREATE_PRIVATE_THREADS: Final = 1 << 36
#: What @everyone may do: everything but ADMINISTRATOR, which would make channel
#: overwrites moot (Discord ignores them for administrators).
EVERYONE_PERMISSIONS: Final = ((1 << 50) - 1) & ~ADMINISTRATOR
#: Permission names the control API accepts, as Discord's documentation spells them.
PERMISSION_NAMES: Final[Mapping[str, int]] = {
    "VIEW_CHANNEL": VIEW_CHANNEL,
    "SEND_MESSAGES": SEND_MESSAGES,
    "READ_MESSAGE_HISTORY": READ_MESSAGE_HISTORY,
}
# Channel permission overwrite targets.
OVERWRITE_ROLE: Final = 0
OVERWRITE_MEMBER: Final = 1

# Application flags: the message-content intent switched on in the Developer Portal
# (an unverified app in under 100 servers gets the LIMITED flag).
APP_FLAG_GATEWAY_MESSAGE_CONTENT: Final = 1 << 18
APP_FLAG_GATEWAY_MESSAGE_CONTENT_LIMITED: Final = 1 << 19
_MESSAGE_CONTENT_FLAGS: Final = (
    APP_FLAG_GATEWAY_MESSAGE_CONTENT | APP_FLAG_GATEWAY_MESSAGE_CONTENT_LIMITED
)

#: How long a nonce stays enforceable (Discord documents "the past few minutes").
NONCE_WINDOW_SECONDS: Final = 300.0

_MENTION_RE: Final = re.compile(r"<@!?(\d+)>")


def iso(ts: float) -> str:
    """Return Unix time ``ts`` as the ISO-8601 string Discord uses for timestamps."""
    return datetime.fromtimestamp(ts, UTC).isoformat()


class SnowflakeFactory:
    """Generates strictly increasing snowflakes from the current time."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        """Return a new snowflake, greater than every one returned before."""
        candidate = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        # Several ids within one millisecond: count up in the low (increment) bits.
        self._last = max(candidate, self._last + 1)
        return self._last


def snowflake_time(snowflake: int) -> float:
    """Return the Unix time (seconds) encoded in ``snowflake``."""
    return ((snowflake >> 22) + DISCORD_EPOCH_MS) / 1000.0


@dataclass(frozen=True, slots=True)
class User:
    """A user of the sandbox guild: one of the four bots or a human."""

    id: int
    key: str
    """Short stable name: ``reception``/``spectra``/``lynq``/``paz`` or the human's name."""
    name: str
    bot: bool
    colour: str

    def payload(self) -> dict[str, Any]:
        """Return the Discord user object."""
        return {
            "id": str(self.id),
            "username": self.name.lower() if not self.bot else self.name,
            "global_name": self.name,
            "discriminator": "0",
            "avatar": None,
            "bot": self.bot,
            "system": False,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
        }

    def self_payload(self) -> dict[str, Any]:
        """Return the user object as ``GET /users/@me`` shows it to its own token."""
        return {
            **self.payload(),
            "verified": True,
            "mfa_enabled": False,
            "locale": "en-US",
            "email": None,
            "premium_type": 0,
        }


@dataclass(slots=True)
class Overwrite:
    """A channel permission overwrite for a role or a member, as Discord stores it."""

    id: int
    type: int
    """:data:`OVERWRITE_ROLE` or :data:`OVERWRITE_MEMBER`."""
    allow: int = 0
    deny: int = 0

    def payload(self) -> dict[str, Any]:
        """Return the overwrite object (bit sets as strings, as Discord sends them)."""
        return {
            "id": str(self.id),
            "type": self.type,
            "allow": str(self.allow),
            "deny": str(self.deny),
        }


@dataclass(frozen=True, slots=True)
class Thread:
    """What makes a channel a thread: the text channel it hangs off and who started it."""

    parent_id: int
    owner_id: int
    private: bool
    """A private thread (type 12) is seen by its members only; a public one (11) by all."""
    auto_archive_duration: int
    created_at: float


@dataclass(frozen=True, slots=True)
class Channel:
    """A text channel of the sandbox guild, a thread in one, or a direct-message channel."""

    id: int
    name: str
    position: int
    direct: tuple[User, User] | None = None
    """For a direct-message channel: the person and the bot in it (no guild)."""
    thread: Thread | None = None
    """For a thread: its parent channel, owner and kind."""

    @property
    def guild_text(self) -> bool:
        """Whether this is one of the guild's own text channels (not a thread, not a DM)."""
        return self.direct is None and self.thread is None

    def payload(
        self,
        guild_id: int,
        last_message_id: int | None = None,
        overwrites: Sequence[Overwrite] = (),
    ) -> dict[str, Any]:
        """Return the Discord channel object (a DM channel has no guild and no overwrites).

        A thread's object needs its message and member counts: see
        :meth:`World.channel_payload`.
        """
        if self.direct is not None:
            person, _bot = self.direct
            return {
                "id": str(self.id),
                "type": CHANNEL_DM,
                "last_message_id": str(last_message_id) if last_message_id else None,
                "recipients": [person.payload()],
                "flags": 0,
            }
        return {
            "id": str(self.id),
            "type": CHANNEL_TEXT,
            "guild_id": str(guild_id),
            "name": self.name,
            "position": self.position,
            "permission_overwrites": [o.payload() for o in overwrites],
            "parent_id": None,
            "topic": None,
            "nsfw": False,
            "rate_limit_per_user": 0,
            "last_message_id": str(last_message_id) if last_message_id else None,
            "flags": 0,
        }


@dataclass(slots=True)
class Message:
    """A stored message; :meth:`World.message_payload` renders it per viewer."""

    id: int
    channel_id: int
    author: User
    content: str
    type: int = MESSAGE_DEFAULT
    nonce: str | None = None
    reference_id: int | None = None
    """Id of the message this one replies to (``message_reference.message_id``)."""
    mention_ids: tuple[int, ...] = ()
    """Users this message actually mentions (after ``allowed_mentions``)."""
    allowed_mentions: dict[str, Any] | None = None
    """The ``allowed_mentions`` the sender asked for, kept for inspection by tests."""
    flags: int = 0
    embeds: list[dict[str, Any]] = field(default_factory=list)
    """Rich embeds as the sender gave them, checked by ``rest/rich.py``."""
    components: list[dict[str, Any]] = field(default_factory=list)
    """Buttons, selects and (with :data:`FLAG_COMPONENTS_V2`) the layout, each with an ``id``."""
    webhook_id: int | None = None
    interaction_id: int | None = None
    edited_at: float | None = None
    source: str = "rest"
    """``rest`` (a bot's send), ``human`` (control API), ``interaction`` or ``webhook``."""
    attachments: tuple[Attachment, ...] = ()

    @property
    def created_at(self) -> float:
        """Unix time of creation, from the snowflake like Discord's ``timestamp``."""
        return snowflake_time(self.id)

    @property
    def ephemeral(self) -> bool:
        """Whether only the invoking user sees this message (never dispatched)."""
        return bool(self.flags & FLAG_EPHEMERAL)


@dataclass(slots=True)
class Interaction:
    """A person using an app (a command, a component, autocomplete) and the app's answers."""

    id: int
    token: str
    application: User
    user: User
    channel_id: int
    data: dict[str, Any]
    type: int = INTERACTION_COMMAND
    """A slash command (2), a click on a message's component (3) or autocomplete (4)."""
    message_id: int | None = None
    """For a component interaction: the message whose component was used."""
    choices: list[dict[str, Any]] | None = None
    """For autocomplete: the choices the app answered with (callback type 8)."""
    created_at: float = field(default_factory=time.time)
    callback_type: int | None = None
    """The first callback's type: 4 (message), 5 (deferred) ...; None while unanswered."""
    original_id: int | None = None
    followup_ids: list[int] = field(default_factory=list)
    expired: bool = False
    """Whether the app tried to answer after the acknowledgement deadline."""

    @property
    def acknowledged(self) -> bool:
        """Whether the app has sent its (one allowed) callback."""
        return self.callback_type is not None


class World:
    """The guild and everything in it; no I/O (the server wires it to HTTP and gateway)."""

    def __init__(
        self,
        *,
        tokens: Mapping[str, str] | None = None,
        humans: Sequence[str] = ("alice", "bob"),
        guild_name: str = "AgentFleet Sandbox",
    ) -> None:
        """Create the guild with four bots, ``humans`` and the four text channels."""
        configured = dict(DEFAULT_TOKENS)
        configured.update(tokens or {})
        unknown = set(configured) - set(BOTS)
        if unknown:
            raise ValueError(f"tokens given for unknown bots: {sorted(unknown)}")
        if not humans:
            raise ValueError("at least one human member is needed")
        self.guild_id = GUILD_ID
        self.guild_name = guild_name
        self.snowflakes = SnowflakeFactory()
        self.bots: dict[str, User] = {
            key: User(id=uid, key=key, name=name, bot=True, colour=colour)
            for key, (uid, name, colour) in BOTS.items()
        }
        self.humans: dict[str, User] = {
            name: User(id=_FIRST_HUMAN_ID + i, key=name, name=name, bot=False, colour="#e5e7eb")
            for i, name in enumerate(humans)
        }
        self.users: dict[int, User] = {
            u.id: u for u in (*self.bots.values(), *self.humans.values())
        }
        self._token_to_bot: dict[str, User] = {
            tok: self.bots[key] for key, tok in configured.items()
        }
        self.channels: dict[int, Channel] = {
            cid: Channel(id=cid, name=name, position=i)
            for i, (name, cid) in enumerate(CHANNEL_IDS.items())
        }
        self.channel_ids: dict[str, int] = dict(CHANNEL_IDS)
        # channel id → overwrite target id → overwrite; none at first: everyone sees all.
        self.overwrites: dict[int, dict[int, Overwrite]] = {cid: {} for cid in self.channels}
        # Every app starts with the message-content intent switched on in the portal.
        self.app_flags: dict[str, int] = {
            key: APP_FLAG_GATEWAY_MESSAGE_CONTENT_LIMITED for key in self.bots
        }
        # Roles besides @everyone (id → name) and who holds them (user id → role ids).
        self.roles: dict[int, str] = {}
        self.member_roles: dict[int, set[int]] = {}
        self.messages: dict[int, Message] = {}
        self.attachments: dict[int, Attachment] = {}
        """Uploaded files by id, served at their CDN-style URLs."""
        self.cdn_base_url = ""
        """Base of attachment URLs: the server's own address, known once it listens."""
        self.history: dict[int, list[Message]] = {cid: [] for cid in self.channels}
        # thread id → ids of its members (who sees a private thread).
        self.thread_members: dict[int, set[int]] = {}
        self._by_nonce: dict[tuple[int, int, str], Message] = {}
        # app id → guild id (None = global) → command name → command object
        self.commands: dict[int, dict[int | None, dict[str, dict[str, Any]]]] = {}
        self.interactions: dict[int, Interaction] = {}
        self._interactions_by_token: dict[str, Interaction] = {}
        self.joined_at = time.time() - 86_400

    # -- lookups -----------------------------------------------------------------------

    def bot_for_token(self, token: str) -> User | None:
        """Return the bot a token belongs to (``Bot `` prefix allowed), or None."""
        token = token.strip()
        if token.startswith("Bot "):
            token = token[4:].strip()
        return self._token_to_bot.get(token)

    def token_for(self, bot: str) -> str:
        """Return the token configured for bot key ``bot``."""
        for token, user in self._token_to_bot.items():
            if user.key == bot:
                return token
        raise KeyError(f"unknown bot {bot!r}")

    def add_channel(self, name: str) -> Channel:
        """Add a text channel that is not one of the fleet's four (say, #general)."""
        channel = Channel(id=self.snowflakes.next(), name=name, position=len(self.channels))
        self.channels[channel.id] = channel
        self.history[channel.id] = []
        self.overwrites[channel.id] = {}
        return channel

    def add_role(self, name: str, members: Iterable[str] = ()) -> int:
        """Add a guild role held by ``members`` (names); return its id."""
        role_id = self.snowflakes.next()
        self.roles[role_id] = name
        for member in members:
            self.member_roles.setdefault(self.resolve_user(member).id, set()).add(role_id)
        return role_id

    def direct_channel(self, person: User, bot: User) -> Channel:
        """The direct-message channel between ``person`` and ``bot``, opened on first use.

        One channel per pair, whoever opens it: a bot's ``create_dm`` and the person's
        first message land in the same channel, as on Discord.
        """
        if person.bot or not bot.bot:
            raise ValueError("a direct-message channel is between a person and a bot")
        for channel in self.channels.values():
            if channel.direct == (person, bot):
                return channel
        channel = Channel(
            id=self.snowflakes.next(),
            name=f"dm-{person.key}-{bot.key}",
            position=-1,
            direct=(person, bot),
        )
        self.channels[channel.id] = channel
        self.history[channel.id] = []
        return channel

    def add_thread(
        self,
        parent: Channel,
        *,
        name: str,
        owner: User,
        private: bool,
        auto_archive_duration: int,
        starter: Message | None = None,
    ) -> Channel:
        """Open a thread in ``parent``; one started from a message takes that message's id.

        The starter message is flagged :data:`FLAG_HAS_THREAD` and shows the thread in its
        payload, as on Discord. The owner is the thread's first member.
        """
        now = time.time()
        thread = Channel(
            id=starter.id if starter is not None else self.snowflakes.next(),
            name=name,
            position=-1,
            thread=Thread(parent.id, owner.id, private, auto_archive_duration, now),
        )
        self.channels[thread.id] = thread
        self.history[thread.id] = []
        self.overwrites[thread.id] = {}
        self.thread_members[thread.id] = {owner.id}
        if starter is not None:
            starter.flags |= FLAG_HAS_THREAD
        return thread

    def reset_token(self, bot: str) -> str:
        """Give ``bot`` a new token, as the Developer Portal's "Reset Token" does.

        The old token stops working at once (401 on REST, 4004 on the gateway); the new
        one is returned, since a portal shows it exactly once.
        """
        old = self.token_for(bot)
        new = f"sandbox-{bot}-{secrets.token_urlsafe(12)}"
        del self._token_to_bot[old]
        self._token_to_bot[new] = self.bots[bot]
        return new

    def set_message_content_intent(self, bot: str, enabled: bool) -> None:
        """Switch the app's Message Content intent on or off, as in the Developer Portal."""
        key = self.bots[bot].key  # KeyError for an unknown bot
        flags = self.app_flags[key] & ~_MESSAGE_CONTENT_FLAGS
        self.app_flags[key] = flags | (APP_FLAG_GATEWAY_MESSAGE_CONTENT_LIMITED if enabled else 0)

    def may_read_message_content(self, bot: User) -> bool:
        """Whether ``bot``'s app has the Message Content intent switched on."""
        return bool(self.app_flags.get(bot.key, 0) & _MESSAGE_CONTENT_FLAGS)

    def deny_permission(self, user: str, channel: str | int, permission: int) -> None:
        """Deny ``permission`` bits to ``user`` in ``channel`` with a member overwrite."""
        target = self.resolve_user(user)
        overwrites = self.overwrites[self.resolve_channel(channel).id]
        overwrite = overwrites.setdefault(target.id, Overwrite(target.id, OVERWRITE_MEMBER))
        overwrite.deny |= permission
        overwrite.allow &= ~permission

    def clear_overwrites(self) -> None:
        """Remove every channel permission overwrite."""
        for overwrites in self.overwrites.values():
            overwrites.clear()

    def permissions(self, user: User, channel_id: int) -> int:
        """``user``'s permissions in ``channel_id``, computed as Discord does.

        The owner may do everything; otherwise @everyone's permissions (other roles carry
        none here), then the channel's @everyone overwrite, then the member's own. In a
        direct-message channel its two users may do everything and nobody else anything;
        a thread has its parent's permissions, a private thread for its members only.
        """
        channel = self.channels.get(channel_id)
        if channel is not None and channel.direct is not None:
            return (1 << 50) - 1 if user in channel.direct else 0
        if channel is not None and channel.thread is not None:
            # A thread takes its parent's permissions; a private one hides from non-members.
            members = self.thread_members.get(channel_id, set())
            if channel.thread.private and user.id not in members:
                return 0
            return self.permissions(user, channel.thread.parent_id)
        if user.id == self.owner.id:
            return (1 << 50) - 1
        allowed = EVERYONE_PERMISSIONS
        overwrites = self.overwrites.get(channel_id, {})
        for target in (self.guild_id, user.id):
            overwrite = overwrites.get(target)
            if overwrite is not None:
                allowed = (allowed & ~overwrite.deny) | overwrite.allow
        # Without VIEW_CHANNEL nothing else in the channel is usable.
        return allowed if allowed & VIEW_CHANNEL else 0

    @property
    def owner(self) -> User:
        """The guild's owner: the first human."""
        return next(iter(self.humans.values()))

    def channel_payload(self, channel: Channel) -> dict[str, Any]:
        """Return ``channel``'s object with its last message and permission overwrites."""
        if channel.thread is not None:
            return self._thread_payload(channel, channel.thread)
        return channel.payload(
            self.guild_id,
            self._last_message_id(channel.id),
            list(self.overwrites.get(channel.id, {}).values()),
        )

    def _thread_payload(self, channel: Channel, thread: Thread) -> dict[str, Any]:
        # Every key discord.py's Thread._from_data reads without a default is here.
        count = len(self.history[channel.id])
        last = self._last_message_id(channel.id)
        return {
            "id": str(channel.id),
            "type": CHANNEL_PRIVATE_THREAD if thread.private else CHANNEL_PUBLIC_THREAD,
            "guild_id": str(self.guild_id),
            "parent_id": str(thread.parent_id),
            "owner_id": str(thread.owner_id),
            "name": channel.name,
            "last_message_id": str(last) if last else None,
            "rate_limit_per_user": 0,
            "message_count": count,
            "total_message_sent": count,
            "member_count": len(self.thread_members.get(channel.id, ())),
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": thread.auto_archive_duration,
                "archive_timestamp": iso(thread.created_at),
                "locked": False,
                "invitable": True,
                "create_timestamp": iso(thread.created_at),
            },
        }

    def threads(self) -> list[Channel]:
        """The guild's threads, oldest first (none is ever archived here)."""
        return [c for c in self.channels.values() if c.thread is not None]

    def resolve_user(self, ref: str | int) -> User:
        """Find a user by id, bot key, human name or display name (case-insensitive)."""
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            user = self.users.get(int(ref))
            if user is not None:
                return user
        else:
            wanted = ref.strip().lstrip("@").lower()
            for user in self.users.values():
                if wanted in (user.key.lower(), user.name.lower()):
                    return user
        raise KeyError(f"unknown user {ref!r}")

    def resolve_channel(self, ref: str | int) -> Channel:
        """Find a channel by id or name (``#`` prefix allowed)."""
        if isinstance(ref, int) or ref.isdigit():
            channel = self.channels.get(int(ref))
            if channel is not None:
                return channel
        else:
            name = ref.strip().lstrip("#")
            for channel in self.channels.values():
                if channel.name == name:
                    return channel
        raise KeyError(f"unknown channel {ref!r}")

    # -- payloads ----------------------------------------------------------------------

    def member_payload(self, user: User, *, with_user: bool = True) -> dict[str, Any]:
        """Return the guild member object for ``user`` (``flags`` is required by discord.py)."""
        payload: dict[str, Any] = {
            "roles": [str(role) for role in sorted(self.member_roles.get(user.id, ()))],
            "nick": None,
            "avatar": None,
            "banner": None,
            "joined_at": iso(self.joined_at),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }
        if with_user:
            payload["user"] = user.payload()
        return payload

    def everyone_role(self) -> dict[str, Any]:
        """Return the guild's @everyone role (its id is the guild id, as on Discord)."""
        return self._role_payload(self.guild_id, "@everyone", EVERYONE_PERMISSIONS, 0)

    def _role_payload(
        self, role_id: int, name: str, permissions: int, position: int
    ) -> dict[str, Any]:
        return {
            "id": str(role_id),
            "name": name,
            "permissions": str(permissions),
            "position": position,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "flags": 0,
            "icon": None,
            "unicode_emoji": None,
        }

    def guild_payload(self) -> dict[str, Any]:
        """Return the full GUILD_CREATE payload (``member_count == len(members)``)."""
        members = [self.member_payload(u) for u in self.users.values()]
        return {
            "id": str(self.guild_id),
            "name": self.guild_name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner.id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": "ja",
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "vanity_url_code": None,
            "features": [],
            "roles": [
                self.everyone_role(),
                # Extra roles carry no permissions: they only say who is in them.
                *(
                    self._role_payload(rid, name, 0, i + 1)
                    for i, (rid, name) in enumerate(self.roles.items())
                ),
            ],
            "emojis": [],
            "stickers": [],
            "joined_at": iso(self.joined_at),
            "large": False,
            "unavailable": False,
            "member_count": len(members),
            "members": members,
            "channels": [self.channel_payload(c) for c in self.channels.values() if c.guild_text],
            # Active threads: a client that connects later still knows where they hang.
            "threads": [self.channel_payload(t) for t in self.threads()],
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    def _last_message_id(self, channel_id: int) -> int | None:
        history = self.history.get(channel_id) or []
        return history[-1].id if history else None

    def application_payload(self, bot: User) -> dict[str, Any]:
        """Return ``GET /oauth2/applications/@me`` for ``bot`` (the app id is the bot id)."""
        owner = self.owner
        return {
            "id": str(bot.id),
            "name": bot.name,
            "description": f"{bot.name} (AgentFleet sandbox)",
            "icon": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": owner.payload(),
            "team": None,
            "summary": "",
            "verify_key": hashlib.sha256(str(bot.id).encode()).hexdigest(),
            "flags": self.app_flags[bot.key],
            "bot": bot.payload(),
            "rpc_origins": [],
            "tags": [],
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "guild_id": None,
            "cover_image": None,
            "terms_of_service_url": None,
            "privacy_policy_url": None,
        }

    def message_payload(
        self, message: Message, *, hide_content: bool = False, nested: bool = False
    ) -> dict[str, Any]:
        """Render ``message``; ``hide_content`` blanks it for sessions lacking the intent."""
        payload: dict[str, Any] = {
            "id": str(message.id),
            "type": message.type,
            "channel_id": str(message.channel_id),
            "guild_id": str(self.guild_id),
            "author": message.author.payload(),
            "member": self.member_payload(message.author, with_user=False),
            "content": "" if hide_content else message.content,
            "timestamp": iso(message.created_at),
            "edited_timestamp": iso(message.edited_at) if message.edited_at else None,
            "tts": False,
            "mention_everyone": False,
            "mentions": self._mention_payloads(message),
            "mention_roles": [],
            "mention_channels": [],
            "attachments": [a.payload(self.cdn_base_url) for a in message.attachments],
            "embeds": list(message.embeds),
            "components": list(message.components),
            "reactions": [],
            "pinned": False,
            "flags": message.flags,
        }
        if self.channels[message.channel_id].direct is not None:
            del payload["guild_id"], payload["member"]  # a DM belongs to no guild
        started = self.channels.get(message.id)
        if started is not None and started.thread is not None:
            payload["thread"] = self.channel_payload(started)  # the thread it started
        if message.nonce is not None:
            payload["nonce"] = message.nonce
        if message.webhook_id is not None:
            payload["webhook_id"] = str(message.webhook_id)
            payload["application_id"] = str(message.webhook_id)
        if message.interaction_id in self.interactions:
            interaction = self.interactions[message.interaction_id]
            payload["interaction_metadata"] = self._interaction_metadata(interaction)
        if message.reference_id is not None:
            payload.update(self._reply_payload(message, hide_content=hide_content, nested=nested))
        return payload

    def _mention_payloads(self, message: Message) -> list[dict[str, Any]]:
        # discord.py builds Member objects from these, hence the nested member.
        return [
            {**user.payload(), "member": self.member_payload(user, with_user=False)}
            for uid in message.mention_ids
            if (user := self.users.get(uid)) is not None
        ]

    def _interaction_metadata(self, interaction: Interaction) -> dict[str, Any]:
        return {
            "id": str(interaction.id),
            "type": interaction.type,
            "name": interaction.data.get("name", ""),
            "user": interaction.user.payload(),
            "authorizing_integration_owners": {"0": str(self.guild_id)},
        }

    def _reply_payload(
        self, message: Message, *, hide_content: bool, nested: bool
    ) -> dict[str, Any]:
        assert message.reference_id is not None
        reply: dict[str, Any] = {
            "message_reference": {
                "type": 0,
                "message_id": str(message.reference_id),
                "channel_id": str(message.channel_id),
                "guild_id": str(self.guild_id),
            }
        }
        # One level, as on Discord: the replied-to message keeps its own message_reference
        # but not the message behind it.
        if not nested:
            referenced = self.messages.get(message.reference_id)
            reply["referenced_message"] = (
                self.message_payload(referenced, hide_content=hide_content, nested=True)
                if referenced is not None
                else None
            )
        return reply

    # -- messages ----------------------------------------------------------------------

    def find_by_nonce(self, author: User, channel_id: int, nonce: str) -> Message | None:
        """Return the recent message ``author`` sent to ``channel_id`` with ``nonce``."""
        message = self._by_nonce.get((author.id, channel_id, nonce))
        if message is None or message.created_at < time.time() - NONCE_WINDOW_SECONDS:
            return None
        return message

    def mentions_for(
        self,
        content: str,
        *,
        allowed_mentions: Mapping[str, Any] | None,
        replied_author: User | None,
    ) -> tuple[int, ...]:
        """Compute a message's ``mentions``: parsed ``<@id>`` filtered by allowed_mentions.

        As on Discord, ``allowed_mentions`` decides who is actually mentioned (and pinged);
        without it every parsed user is, plus the replied-to author.
        """
        parsed = [int(m) for m in _MENTION_RE.findall(content)]
        candidates = [uid for uid in dict.fromkeys(parsed) if uid in self.users]
        if allowed_mentions is None:
            chosen = candidates
            replied_ok = True
        else:
            parse = allowed_mentions.get("parse") or []
            listed = {int(u) for u in allowed_mentions.get("users") or []}
            chosen = [uid for uid in candidates if "users" in parse or uid in listed]
            replied_ok = bool(allowed_mentions.get("replied_user", False))
        if replied_author is not None and replied_ok and replied_author.id not in chosen:
            chosen.append(replied_author.id)
        return tuple(chosen)

    def add_message(
        self,
        *,
        channel_id: int,
        author: User,
        content: str,
        reference_id: int | None = None,
        nonce: str | None = None,
        allowed_mentions: dict[str, Any] | None = None,
        flags: int = 0,
        embeds: Sequence[dict[str, Any]] = (),
        components: Sequence[dict[str, Any]] = (),
        msg_type: int | None = None,
        webhook_id: int | None = None,
        interaction_id: int | None = None,
        source: str = "rest",
        attachments: tuple[Attachment, ...] = (),
    ) -> Message:
        """Store a new message (no dispatch; the server fans it out).

        Mentions come from the content and, in a components-v2 message, from its text
        displays, which ping like content does.
        """
        replied_author = None
        if reference_id is not None:
            referenced = self.messages.get(reference_id)
            replied_author = referenced.author if referenced is not None else None
        message = Message(
            id=self.snowflakes.next(),
            channel_id=channel_id,
            author=author,
            content=content,
            type=msg_type
            if msg_type is not None
            else (MESSAGE_REPLY if reference_id is not None else MESSAGE_DEFAULT),
            nonce=nonce,
            reference_id=reference_id,
            mention_ids=self.mentions_for(
                "\n".join((content, *layout.texts(components))),
                allowed_mentions=allowed_mentions,
                replied_author=replied_author,
            ),
            allowed_mentions=allowed_mentions,
            flags=flags,
            embeds=list(embeds),
            components=list(components),
            webhook_id=webhook_id,
            interaction_id=interaction_id,
            source=source,
            attachments=attachments,
        )
        self.messages[message.id] = message
        self.history[channel_id].append(message)
        if nonce is not None:
            self._by_nonce[(message.author.id, channel_id, str(nonce))] = message
        if channel_id in self.thread_members:
            # Posting in a thread, or being mentioned there, makes one a member of it.
            self.thread_members[channel_id].update((author.id, *message.mention_ids))
        return message

    def add_attachments(
        self, channel_id: int, uploads: Iterable[FileUpload]
    ) -> tuple[Attachment, ...]:
        """Store uploaded files for a message of ``channel_id``; they are served at once."""
        return tuple(self._add_attachment(channel_id, upload) for upload in uploads)

    def _add_attachment(self, channel_id: int, upload: FileUpload) -> Attachment:
        name = safe_filename(upload.filename)
        kind = content_type_for(name, upload.content_type)
        size = image_size(kind, upload.data)
        attachment = Attachment(
            id=self.snowflakes.next(),
            channel_id=channel_id,
            filename=name,
            content_type=kind,
            data=upload.data,
            description=upload.description,
            width=size[0] if size else None,
            height=size[1] if size else None,
        )
        self.attachments[attachment.id] = attachment
        return attachment

    def remove_message(self, message: Message) -> None:
        """Forget ``message`` and its files (no dispatch; the server tells the clients)."""
        self.messages.pop(message.id, None)
        for attachment in message.attachments:
            self.attachments.pop(attachment.id, None)
        history = self.history[message.channel_id]
        if message in history:
            history.remove(message)

    # -- application commands ----------------------------------------------------------

    def put_commands(
        self, app: User, guild_id: int | None, commands: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """Bulk-overwrite ``app``'s commands (ids stay stable per name, like Discord)."""
        scope = self.commands.setdefault(app.id, {})
        previous = scope.get(guild_id, {})
        stored: dict[str, dict[str, Any]] = {}
        for raw in commands:
            name = str(raw["name"])
            old = previous.get(name)
            command: dict[str, Any] = {
                "type": 1,
                "description": "",
                "options": [],
                "default_member_permissions": None,
                "nsfw": False,
                "contexts": None,
                "integration_types": [0],
                **raw,
                "id": old["id"] if old else str(self.snowflakes.next()),
                "application_id": str(app.id),
                "version": str(self.snowflakes.next()),
            }
            if guild_id is not None:
                command["guild_id"] = str(guild_id)
            stored[name] = command
        scope[guild_id] = stored
        return list(stored.values())

    def find_command(self, name: str) -> tuple[User, dict[str, Any]]:
        """Return (app, command) for a chat-input command registered in the guild or globally."""
        for app_id, scopes in self.commands.items():
            for guild_id in (self.guild_id, None):
                command = scopes.get(guild_id, {}).get(name)
                if command is not None and command.get("type", 1) == 1:
                    return self.users[app_id], command
        raise KeyError(f"no application command /{name} is registered")

    def new_interaction(
        self,
        *,
        app: User,
        user: User,
        channel_id: int,
        data: dict[str, Any],
        kind: int = INTERACTION_COMMAND,
        message_id: int | None = None,
    ) -> Interaction:
        """Create and store an interaction of ``user`` with ``app`` (a command by default)."""
        interaction = Interaction(
            id=self.snowflakes.next(),
            token=secrets.token_urlsafe(32),
            application=app,
            user=user,
            channel_id=channel_id,
            data=data,
            type=kind,
            message_id=message_id,
        )
        self.interactions[interaction.id] = interaction
        self._interactions_by_token[interaction.token] = interaction
        return interaction

    def interaction_by_token(self, token: str) -> Interaction | None:
        """Return the interaction a webhook/callback token belongs to."""
        return self._interactions_by_token.get(token)

    def interaction_payload(self, interaction: Interaction) -> dict[str, Any]:
        """Render INTERACTION_CREATE; a component interaction carries the message used."""
        channel = self.channels[interaction.channel_id]
        member = self.member_payload(interaction.user)
        member["permissions"] = ALL_PERMISSIONS
        payload: dict[str, Any] = {
            "id": str(interaction.id),
            "application_id": str(interaction.application.id),
            "type": interaction.type,
            "data": interaction.data,
            "guild_id": str(self.guild_id),
            "guild": {"id": str(self.guild_id), "locale": "ja", "features": []},
            "channel_id": str(channel.id),
            "channel": self.channel_payload(channel),
            "member": member,
            "token": interaction.token,
            "version": 1,
            "app_permissions": ALL_PERMISSIONS,
            "locale": "ja",
            "guild_locale": "ja",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(self.guild_id)},
            "context": 0,
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if interaction.message_id in self.messages:
            payload["message"] = self.message_payload(self.messages[interaction.message_id])
        return payload
