"""Files sent with a message, as discord.py sends them, and the CDN that serves them back.

``channel.send(file=...)`` posts ``multipart/form-data``: the message's JSON in a
``payload_json`` part and each file in a ``files[n]`` part, with ``attachments`` in the
JSON naming file ``n`` (``{"id": n, "filename": ..., "description": ...}``). Discord
refuses a request whose files exceed its upload limit with 413 code 40005; so does this.
Stored files are served without a token at their CDN-style URL, as
``cdn.discordapp.com`` serves them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import BodyPartReader, hdrs, web

from ..attachments import CDN_PREFIX, MAX_FILES, MAX_UPLOAD_BYTES, FileUpload
from ..responses import ApiError, invalid_form_body
from ..world import World
from .validation import read_body

_CHUNK = 64 * 1024
_DRAIN_LIMIT = 64 * 1024 * 1024


def entity_too_large() -> ApiError:
    """Discord's answer to files over the upload limit."""
    return ApiError(413, 40005, "Request entity too large")


async def read_message_form(request: web.Request) -> tuple[dict[str, Any], list[FileUpload]]:
    """The message's JSON and its files, in ``files[n]`` order.

    A JSON body has no files. In a multipart one, ``attachments`` in the JSON may rename
    file ``n`` or describe it, as on Discord.
    """
    if not request.content_type.startswith("multipart/"):
        return await read_body(request), []
    body: dict[str, Any] = {}
    files: dict[int, tuple[str, str | None, bytes]] = {}
    room = MAX_UPLOAD_BYTES
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            continue  # a nested multipart: discord.py sends none
        if part.name == "payload_json":
            body = _payload_json(await part.text())
        elif part.name and part.name.startswith("files[") and part.name.endswith("]"):
            data = await _read_capped(request, part, room)
            room -= len(data)
            index = _file_index(part.name)
            files[index] = (
                part.filename or f"file{index}",
                part.headers.get(hdrs.CONTENT_TYPE),
                data,
            )
    if len(files) > MAX_FILES:
        raise invalid_form_body(
            "attachments", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_FILES} or fewer in length."
        )
    return body, _uploads(body, files)


def _uploads(
    body: Mapping[str, Any], files: Mapping[int, tuple[str, str | None, bytes]]
) -> list[FileUpload]:
    described: dict[str, Mapping[str, Any]] = {
        str(item.get("id")): item
        for item in body.get("attachments") or []
        if isinstance(item, Mapping)
    }
    uploads = []
    for index in sorted(files):
        filename, content_type, data = files[index]
        meta = described.get(str(index), {})
        description = meta.get("description")
        uploads.append(
            FileUpload(
                str(meta.get("filename") or filename),
                data,
                content_type,
                str(description) if description else None,
            )
        )
    return uploads


def _payload_json(raw: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        raise ApiError(400, 50109, "The request body contains invalid JSON.") from None
    if not isinstance(data, dict):
        raise ApiError(400, 50109, "The request body contains invalid JSON.")
    return data


def _file_index(name: str) -> int:
    try:
        return int(name[len("files[") : -1])
    except ValueError:
        raise invalid_form_body(
            name, "BASE_TYPE_BAD_FORMAT", "File fields are named files[n]."
        ) from None


async def _read_capped(request: web.Request, part: BodyPartReader, room: int) -> bytes:
    """The part's bytes, refusing the request once the files outgrow the limit."""
    data = bytearray()
    while chunk := await part.read_chunk(_CHUNK):
        data += chunk
        if len(data) > room:
            await _drain(request)
            raise entity_too_large()
    return bytes(data)


async def _drain(request: web.Request) -> None:
    """Read and drop the rest of the body, up to a bound.

    A client still sending its files then reads the error instead of a reset connection.
    """
    left = _DRAIN_LIMIT
    while left > 0 and (chunk := await request.content.readany()):
        left -= len(chunk)


def add_cdn_routes(router: web.UrlDispatcher, world: World) -> None:
    """Serve stored files at ``/attachments/{channel_id}/{attachment_id}/{filename}``."""

    async def serve(request: web.Request) -> web.Response:
        attachment = world.attachments.get(_int(request.match_info["attachment_id"]))
        if (
            attachment is None
            or str(attachment.channel_id) != request.match_info["channel_id"]
            or attachment.filename != request.match_info["filename"]
        ):
            raise web.HTTPNotFound(text="This content is no longer available.")
        return web.Response(
            body=attachment.data,
            content_type=(attachment.content_type or "application/octet-stream").split(";")[0],
        )

    router.add_get(f"{CDN_PREFIX}/{{channel_id}}/{{attachment_id}}/{{filename}}", serve)


def _int(text: str) -> int:
    return int(text) if text.isdigit() else -1
