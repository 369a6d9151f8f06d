"""Turn a typed slash command line into interaction options, as Discord's client would.

A person in the web page (or a test) types ``/task commit development "認証システム実装"``;
the registered command's schema decides which words are subcommands and which are option
values, so the server builds exactly the ``data`` a real Discord client would send.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from .world import World

SUB_COMMAND = 1
SUB_COMMAND_GROUP = 2
STRING = 3
INTEGER = 4
BOOLEAN = 5
USER = 6
CHANNEL = 7
NUMBER = 10


class CommandLineError(ValueError):
    """The command line does not fit the registered command (shown to the typing user)."""


def split_command_line(line: str) -> tuple[str, list[str]]:
    """Return (command name, remaining words) of ``/name word "quoted words" ...``."""
    try:
        words = shlex.split(line.strip())
    except ValueError as exc:  # unbalanced quotes
        raise CommandLineError(f"cannot parse command line: {exc}") from None
    if not words:
        raise CommandLineError("empty command line")
    return words[0].lstrip("/"), words[1:]


def build_options(
    world: World, command: Mapping[str, Any], words: Sequence[str], *, partial: bool = False
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Map ``words`` onto ``command``'s options; return (options, resolved).

    Words may be positional (in declaration order) or ``name:value`` like Discord's own
    client. Surplus words are joined into a final string option so an unquoted sentence
    still works. A ``partial`` line is one still being typed (autocomplete): required
    options may be missing yet.
    """
    resolved: dict[str, Any] = {}
    schema: list[Mapping[str, Any]] = list(command.get("options") or [])
    remaining = list(words)
    path: list[tuple[str, int]] = []
    while schema and all(o.get("type") in (SUB_COMMAND, SUB_COMMAND_GROUP) for o in schema):
        names = [str(o["name"]) for o in schema]
        if not remaining:
            raise CommandLineError(f"expected a subcommand: one of {', '.join(names)}")
        word = remaining.pop(0)
        chosen = next((o for o in schema if o["name"] == word), None)
        if chosen is None:
            raise CommandLineError(
                f"unknown subcommand {word!r}: expected one of {', '.join(names)}"
            )
        path.append((word, int(chosen["type"])))
        schema = list(chosen.get("options") or [])

    values = _assign(schema, remaining, partial=partial)
    leaf = [
        {"name": name, "type": int(opt["type"]), "value": _convert(world, opt, raw, resolved)}
        for name, (opt, raw) in values.items()
    ]
    options: list[dict[str, Any]] = leaf
    for name, kind in reversed(path):
        options = [{"name": name, "type": kind, "options": options}]
    return options, resolved


def _assign(
    schema: Sequence[Mapping[str, Any]], words: Sequence[str], *, partial: bool
) -> dict[str, tuple[Mapping[str, Any], str]]:
    by_name = {str(o["name"]): o for o in schema}
    values: dict[str, tuple[Mapping[str, Any], str]] = {}
    positional: list[str] = []
    for word in words:
        key, sep, value = word.partition(":")
        if sep and key in by_name and key not in values:
            values[key] = (by_name[key], value)
        else:
            positional.append(word)
    free = [o for o in schema if str(o["name"]) not in values]
    for i, opt in enumerate(free):
        if not positional:
            break
        last = i == len(free) - 1
        if last and int(opt["type"]) == STRING:
            values[str(opt["name"])] = (opt, " ".join(positional))
            positional = []
        else:
            values[str(opt["name"])] = (opt, positional.pop(0))
    if positional:
        raise CommandLineError(f"too many arguments: {' '.join(positional)}")
    missing = [str(o["name"]) for o in schema if o.get("required") and str(o["name"]) not in values]
    if missing and not partial:
        raise CommandLineError(f"missing required option(s): {', '.join(missing)}")
    # Keep declaration order, as Discord does.
    return {name: values[name] for name in by_name if name in values}


def _convert(world: World, opt: Mapping[str, Any], raw: str, resolved: dict[str, Any]) -> Any:
    kind = int(opt["type"])
    name = str(opt["name"])
    choices = opt.get("choices") or []
    if choices:
        for choice in choices:
            if raw in (str(choice["value"]), str(choice["name"])):
                return choice["value"]
        allowed = ", ".join(str(c["name"]) for c in choices)
        raise CommandLineError(f"{name}: {raw!r} is not one of {allowed}")
    try:
        if kind == STRING:
            return raw
        if kind == INTEGER:
            return int(raw)
        if kind == NUMBER:
            return float(raw)
        if kind == BOOLEAN:
            if raw.lower() not in ("true", "false", "yes", "no", "1", "0"):
                raise ValueError(raw)
            return raw.lower() in ("true", "yes", "1")
        if kind == USER:
            user = world.resolve_user(raw.strip("<@!>"))
            resolved.setdefault("users", {})[str(user.id)] = user.payload()
            member = world.member_payload(user, with_user=False)
            resolved.setdefault("members", {})[str(user.id)] = member
            return str(user.id)
        if kind == CHANNEL:
            channel = world.resolve_channel(raw.strip("<#>"))
            payload = channel.payload(world.guild_id)
            payload["permissions"] = "0"
            resolved.setdefault("channels", {})[str(channel.id)] = payload
            return str(channel.id)
    except (ValueError, KeyError) as exc:
        raise CommandLineError(f"{name}: invalid value {raw!r} ({exc})") from None
    raise CommandLineError(f"{name}: option type {kind} is not supported by the sandbox")


def focus(options: list[dict[str, Any]], name: str) -> None:
    """Mark option ``name`` as the one being typed, its value the text typed so far.

    Discord sends an autocomplete interaction's focused option as a string, whatever the
    option's type, since the person has not finished typing it.
    """
    for option in options:
        if option.get("name") == name and "value" in option:
            option["focused"] = True
            option["value"] = str(option["value"])
            return
        if "options" in option:
            try:
                focus(option["options"], name)
            except CommandLineError:
                continue
            return
    raise CommandLineError(
        f"option {name!r} is not in the command line; type its start, e.g. {name}:ab"
    )
