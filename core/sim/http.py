"""HTTP pieces the simulator's protocol routes share: JSON answers, JSON request bodies, and the
loopback check that keeps the simulator local.

Bodies are serialised and parsed with orjson (the simulator's wire is JSON throughout).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

_dumps: Callable[[Any], bytes] = orjson.dumps
_loads: Callable[[str | bytes], Any] = orjson.loads


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and any loopback IP (``127.0.0.0/8``, ``::1``, bracketed or not)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def json_response(obj: Any, status: int = 200) -> web.Response:
    """``obj`` as an ``application/json`` answer with HTTP ``status`` (orjson bytes: compact,
    keys in insertion order)."""
    return web.Response(status=status, body=_dumps(obj), content_type="application/json")


def unprocessable(text: str) -> web.Response:
    """HTTP 422 with ``text`` as ``text/plain``: how Hyperliquid refuses a body it cannot
    deserialise."""
    return web.Response(status=422, text=text, content_type="text/plain")


async def json_body(request: web.Request) -> Any:
    """The request's decoded JSON body, or the venue's 422 answer (a :class:`web.Response`,
    from :func:`unprocessable`) when it is not JSON."""
    try:
        return _loads(await request.read())
    except ValueError:
        return unprocessable("Failed to parse the request body as JSON")
