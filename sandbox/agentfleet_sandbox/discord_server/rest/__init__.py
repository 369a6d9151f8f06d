"""Discord's REST API under ``/api/v10``, the part of Discord a bot calls over HTTP.

Where each route lives:

=================  =====================================================================
module             routes (under ``/api/v10``)
=================  =====================================================================
``identity``       ``users/@me``, ``users/{id}``, ``[oauth2/]applications/@me``,
                   ``gateway[/bot]``
``guild``          ``guilds/{id}``, its ``channels`` and ``members/{id}``,
                   ``channels/{id}``
``messages``       ``channels/{id}/messages[/{id}]`` (send, list, get, edit, delete),
                   ``channels/{id}/typing``
``threads``        ``channels/{id}/messages/{id}/threads``, ``channels/{id}/threads``,
                   ``channels/{id}/thread-members/{id or @me}``
``rich``           (no routes) embeds and components of a message body, checked
``uploads``        (no routes) ``multipart/form-data`` bodies: ``payload_json`` and files
``interactions``   ``applications/{id}[/guilds/{id}]/commands``,
                   ``interactions/{id}/{token}/callback``,
                   ``webhooks/{app}/{token}[/messages/{id or @original}]``
``api``            the prefix, and the middleware every call passes through
``validation``     the token, path and body checks the handlers share
=================  =====================================================================
"""

from .api import API_PREFIX, RestApi
from .messages import TypingEvent

__all__ = ["API_PREFIX", "RestApi", "TypingEvent"]
