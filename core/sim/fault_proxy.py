"""A fault-injecting HTTP reverse proxy on 127.0.0.1, to put in front of a venue (the simulator).

:class:`FaultProxy` listens on ``127.0.0.1`` only and forwards every request (method, path,
query, headers without the hop-by-hop ones, body) to an upstream base URL and returns the
upstream's answer unchanged. On a seeded-random fraction ``rate`` of the requests whose path
starts with one of ``paths`` (default ``/info``, ``/exchange``, ``/fapi``) it injects one of the
configured faults instead, drawn uniformly from ``faults``:

=============  ==================================================  ==========================================
fault          what the client sees                                the real venue failure it stands for
=============  ==================================================  ==========================================
``drop``       the request **is** forwarded (it takes effect),     an answer lost on the way back after the
               then the connection is closed without an answer     venue acted: a load balancer or NAT drops
                                                                   the connection, the client times out; the
                                                                   order or cancel *was* done
``429``        ``HTTP 429`` with ``Retry-After: <retry_after_s>``  the venue's rate limiter (per-IP weight or
               (seconds); not forwarded                            per-address limit) refusing the request
``500``        ``HTTP 500``; not forwarded                         an overloaded or failing API node that
                                                                   answers an error before acting
``500-after``  the request is forwarded (it takes effect), then    a gateway error after the matching engine
               ``HTTP 500`` instead of the venue's answer          acted (the error hides a done action)
``reset``      the connection is reset (TCP RST) before the        a connection reset mid-request: a restart
               request is forwarded                                of the API node, a broken keep-alive
                                                                   connection, a middlebox killing the flow
``delay``      the request is held ``delay_s`` seconds, then       a slow venue (congestion, a slow node)
               forwarded and answered normally
``freeze``     the request is accepted and never answered; the     a frozen venue or a black-holed route: the
               connection stays open until the client gives up     client only learns of it by its own timeout
               (or the proxy stops, or ``freeze_s`` passes)
=============  ==================================================  ==========================================

``rate`` is a probability per eligible request (``0`` forwards everything unchanged, ``1.0``
faults every eligible request: a permanent fault). The decisions come from
``random.Random(seed)`` in request arrival order, so the same seed and the same sequence of
requests give the same sequence of faults (:attr:`FaultProxy.history`).

WebSocket upgrade requests are passed through to the upstream without faults (frames are
relayed both ways unchanged).

Counters: :attr:`FaultProxy.requests` (every request received), :attr:`FaultProxy.forwarded`
(requests that reached the upstream), :attr:`FaultProxy.faults` (injected faults per kind),
:attr:`FaultProxy.upstream_errors` (the upstream could not be reached: answered ``502``);
:meth:`FaultProxy.summary` gathers them.

Command line (for use from another process), prints one JSON line once bound, then a summary
line on exit::

    python -m pfterm.core.sim.fault_proxy --upstream http://127.0.0.1:8765 --fault 429 --rate 0.3 --seed 1 --port 0
    {"listening": "http://127.0.0.1:PORT", "upstream": ..., "faults": ["429"], "rate": 0.3, "seed": 1}
    ...
    {"summary": {"requests": 120, "forwarded": 85, "faults": {"429": 35}, ...}}

It stops on SIGINT / SIGTERM and, with ``--exit-on-stdin-eof``, when its stdin reaches end of file.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import random
import socket
import struct
import sys
import threading
from collections.abc import Iterable, Sequence
from typing import Any, Final

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

__all__ = ["FAULTS", "FaultProxy", "main"]

FAULTS: Final[tuple[str, ...]] = ("drop", "429", "500", "500-after", "reset", "delay", "freeze")
"""Every fault kind :class:`FaultProxy` can inject (see the module docstring)."""

DEFAULT_PATHS: Final[tuple[str, ...]] = ("/info", "/exchange", "/fapi")
"""Path prefixes faults apply to by default: Hyperliquid REST and the Binance-compatible routes."""

HOST: Final = "127.0.0.1"

# RFC 9110 §7.6.1 connection-specific headers, never forwarded; Host and Content-Length are
# set again by the outgoing side.
_HOP_BY_HOP: Final = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "Proxy-Connection",
        "TE",
        "Trailer",
        "Trailers",
        "Transfer-Encoding",
        "Upgrade",
        "Host",
        "Content-Length",
    )
)
_WS_HANDSHAKE: Final = frozenset(
    ("sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions", "sec-websocket-accept")
)


def _forwardable(headers: Any, extra_drop: Iterable[str] = ()) -> CIMultiDict[str]:
    """Copy of ``headers`` without hop-by-hop headers, those named in ``Connection``, and ``extra_drop``."""
    drop = set(_HOP_BY_HOP) | {h.lower() for h in extra_drop}
    for value in headers.getall("Connection", []):
        drop.update(token.strip().lower() for token in value.split(",") if token.strip())
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in drop)


class FaultProxy:
    """Reverse proxy on 127.0.0.1 that forwards to ``upstream`` and injects faults.

    Use ``base_url = await proxy.start()`` then ``await proxy.stop()``, or ``async with
    FaultProxy(...) as proxy`` (then :attr:`base_url`).

    :param upstream: upstream base URL, ``http://host:port`` (a path prefix is kept).
    :param faults: fault kinds to draw from (names in :data:`FAULTS`), or one name.
    :param rate: probability (``0..1``) that an eligible request is faulted; ``1.0`` faults all.
    :param seed: seed of the fault decisions (same seed, same request order → same faults).
    :param paths: path prefixes eligible for faults; other paths are always forwarded.
    :param port: TCP port to bind on 127.0.0.1; ``0`` picks a free one.
    :param retry_after_s: ``Retry-After`` value of ``429`` answers, whole seconds (``>= 0``).
    :param delay_s: how long ``delay`` holds a request before forwarding it, seconds.
    :param freeze_s: longest a ``freeze`` holds a request (seconds); ``None``: until the client
        disconnects or the proxy stops.
    :param upstream_timeout_s: total time allowed for one upstream exchange, seconds (``502`` after).
    :raises ValueError: unknown fault name, empty ``faults``, ``rate`` outside ``0..1``, a
        negative duration, or an ``upstream`` that is not an ``http(s)`` URL.
    """

    def __init__(
        self,
        upstream: str,
        faults: Sequence[str] | str,
        rate: float,
        seed: int = 0,
        *,
        paths: Sequence[str] = DEFAULT_PATHS,
        port: int = 0,
        retry_after_s: int = 1,
        delay_s: float = 2.0,
        freeze_s: float | None = None,
        upstream_timeout_s: float = 30.0,
    ) -> None:
        kinds = (faults,) if isinstance(faults, str) else tuple(faults)
        if not kinds:
            raise ValueError("faults must name at least one fault kind")
        unknown = [k for k in kinds if k not in FAULTS]
        if unknown:
            raise ValueError(f"unknown fault kind(s) {unknown}; known: {', '.join(FAULTS)}")
        if not 0.0 <= float(rate) <= 1.0:
            raise ValueError(f"rate must be within 0..1, got {rate!r}")
        if int(retry_after_s) != retry_after_s or retry_after_s < 0:
            raise ValueError(f"retry_after_s must be a whole number of seconds >= 0, got {retry_after_s!r}")
        if delay_s < 0 or (freeze_s is not None and freeze_s < 0) or upstream_timeout_s <= 0:
            raise ValueError("durations must be >= 0 (upstream_timeout_s > 0)")
        url = URL(upstream)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"upstream must be an http(s) URL, got {upstream!r}")
        self.upstream = str(url).rstrip("/")
        self.kinds: tuple[str, ...] = kinds
        self.rate = float(rate)
        self.seed = seed
        self.paths: tuple[str, ...] = tuple(paths)
        self.port = port
        self.retry_after_s = int(retry_after_s)
        self.delay_s = float(delay_s)
        self.freeze_s = freeze_s
        self.upstream_timeout_s = float(upstream_timeout_s)
        self.base_url: str | None = None
        """``http://127.0.0.1:PORT`` once started."""
        self.requests = 0
        """Requests received (every path, WebSocket upgrades included)."""
        self.forwarded = 0
        """Requests that reached the upstream (``drop`` and ``500-after`` included)."""
        self.upstream_errors = 0
        """Requests the upstream did not answer (connection failed or timed out): answered ``502``."""
        self.faults: collections.Counter[str] = collections.Counter()
        """Injected faults per kind."""
        self.history: collections.deque[tuple[str, str, str | None]] = collections.deque(maxlen=100_000)
        """``(method, path, fault or None)`` per request in arrival order (the last 100 000)."""
        self._rng = random.Random(seed)
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._sockets: set[web.WebSocketResponse] = set()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> str:
        """Bind on 127.0.0.1 and serve; returns the base URL ``http://127.0.0.1:PORT``.

        :raises OSError: the port cannot be bound.
        :raises RuntimeError: already started.
        """
        if self._runner is not None:
            raise RuntimeError("FaultProxy already started")
        self._stopping = asyncio.Event()
        self._session = aiohttp.ClientSession(
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=self.upstream_timeout_s),
            skip_auto_headers=("Accept-Encoding", "User-Agent"),
        )
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self.base_url = f"http://{HOST}:{self.port}"
        return self.base_url

    async def stop(self) -> None:
        """Release held requests (``delay``, ``freeze``), close the listener and the upstream client."""
        self._stopping.set()
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> FaultProxy:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    def summary(self) -> dict[str, Any]:
        """Counters as a JSON-able dict: ``requests``, ``forwarded``, ``upstream_errors``, ``faults`` per kind."""
        return {
            "requests": self.requests,
            "forwarded": self.forwarded,
            "upstream_errors": self.upstream_errors,
            "faults": dict(self.faults),
            "rate": self.rate,
            "seed": self.seed,
        }

    # ------------------------------------------------------------------ decisions

    def _eligible(self, path: str) -> bool:
        return any(path == p or path.startswith(p.rstrip("/") + "/") for p in self.paths)

    def _decide(self) -> str | None:
        """The fault for the next eligible request, or ``None`` (one or two draws from the seeded RNG)."""
        if self.rate <= 0.0 or self._rng.random() >= self.rate:
            return None
        return self._rng.choice(self.kinds)

    # ------------------------------------------------------------------ handling

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        if request.headers.get("Upgrade", "").lower() == "websocket":
            self.history.append((request.method, request.path, None))
            return await self._relay_websocket(request)
        fault = self._decide() if self._eligible(request.path) else None
        self.history.append((request.method, request.path, fault))
        if fault is None:
            return await self._forward(request)
        self.faults[fault] += 1
        if fault == "429":
            return web.Response(status=429, text="rate limited", headers={"Retry-After": str(self.retry_after_s)})
        if fault == "500":
            return web.Response(status=500, text="Internal Server Error")
        if fault == "reset":
            _reset(request)
            return web.Response(status=500)  # never written: the connection is gone
        if fault == "drop":
            await self._forward(request)
            _close(request)
            return web.Response(status=500)  # never written: the connection is gone
        if fault == "500-after":
            await self._forward(request)
            return web.Response(status=500, text="Internal Server Error")
        if fault == "delay":
            if await self._hold(self.delay_s, request):
                _close(request)
                return web.Response(status=503)
            return await self._forward(request)
        # freeze: hold until the client disconnects, the proxy stops or freeze_s passes
        await self._hold(self.freeze_s, request)
        _close(request)
        return web.Response(status=503)

    async def _hold(self, seconds: float | None, request: web.Request) -> bool:
        """Wait ``seconds`` (``None``: no limit); True if the proxy stopped or the client left first."""
        loop = asyncio.get_running_loop()
        end = None if seconds is None else loop.time() + seconds
        while True:
            if self._stopping.is_set() or request.transport is None or request.transport.is_closing():
                return True
            step = 0.05 if end is None else min(0.05, end - loop.time())
            if step <= 0:
                return False
            try:
                await asyncio.wait_for(self._stopping.wait(), step)
            except TimeoutError:
                pass

    async def _forward(self, request: web.Request) -> web.Response:
        """Send ``request`` upstream and build the same answer (status, headers, body)."""
        assert self._session is not None
        body = await request.read()
        target = URL(self.upstream + request.raw_path, encoded=True)
        headers = _forwardable(request.headers)
        self.forwarded += 1
        try:
            async with self._session.request(
                request.method, target, headers=headers, data=body or None, allow_redirects=False
            ) as answer:
                payload = await answer.read()
                return web.Response(
                    status=answer.status,
                    reason=answer.reason,
                    headers=_forwardable(answer.headers),
                    body=payload,
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.upstream_errors += 1
            return web.Response(status=502, text=f"upstream unreachable: {type(exc).__name__}")

    async def _relay_websocket(self, request: web.Request) -> web.StreamResponse:
        """Relay a WebSocket connection to the upstream, frames unchanged both ways."""
        assert self._session is not None
        target = URL(self.upstream + request.raw_path, encoded=True)
        target = target.with_scheme("wss" if target.scheme == "https" else "ws")
        headers = _forwardable(request.headers, _WS_HANDSHAKE)
        try:
            upstream = await self._session.ws_connect(
                target, headers=headers, timeout=aiohttp.ClientWSTimeout(ws_close=5.0)
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.upstream_errors += 1
            return web.Response(status=502, text=f"upstream unreachable: {type(exc).__name__}")
        self.forwarded += 1
        client = web.WebSocketResponse(autoping=False)
        await client.prepare(request)
        self._sockets.add(client)

        async def pump(src: Any, dst: Any) -> None:
            async for msg in src:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    await dst.send_str(msg.data)
                elif msg.type == aiohttp.WSMsgType.BINARY:
                    await dst.send_bytes(msg.data)
                elif msg.type == aiohttp.WSMsgType.PING:
                    await dst.ping(msg.data)
                elif msg.type == aiohttp.WSMsgType.PONG:
                    await dst.pong(msg.data)
                else:
                    break

        tasks = [asyncio.create_task(pump(client, upstream)), asyncio.create_task(pump(upstream, client))]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await upstream.close()
            await client.close()
            self._sockets.discard(client)
        return client


def _close(request: web.Request) -> None:
    """Close the client connection (FIN) without answering."""
    transport = request.transport
    if transport is not None:
        transport.close()


def _reset(request: web.Request) -> None:
    """Abort the client connection with a TCP RST (``SO_LINGER`` 0) without answering."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    transport.abort()


# ---------------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m pfterm.core.sim.fault_proxy",
        description="Fault-injecting HTTP reverse proxy on 127.0.0.1 (see the module docstring for the faults).",
    )
    ap.add_argument("--upstream", required=True, help="upstream base URL, e.g. http://127.0.0.1:8765")
    ap.add_argument(
        "--fault",
        action="append",
        required=True,
        metavar="KIND",
        help=f"fault kind (repeat or comma-separate to mix): {', '.join(FAULTS)}",
    )
    ap.add_argument("--rate", type=float, default=0.3, help="fraction of eligible requests faulted, 0..1 (default 0.3)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the fault decisions (default 1)")
    ap.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default 0: any free port)")
    ap.add_argument(
        "--paths",
        default=",".join(DEFAULT_PATHS),
        help="comma-separated path prefixes faults apply to (default /info,/exchange,/fapi)",
    )
    ap.add_argument("--retry-after", type=int, default=1, metavar="S", help="Retry-After of 429 answers, seconds")
    ap.add_argument("--delay", type=float, default=2.0, metavar="S", help="hold time of the delay fault, seconds")
    ap.add_argument(
        "--freeze",
        type=float,
        default=None,
        metavar="S",
        help="longest hold of the freeze fault, seconds (default: until the client gives up)",
    )
    ap.add_argument("--exit-on-stdin-eof", action="store_true", help="stop when stdin reaches end of file")
    return ap


async def _serve(args: argparse.Namespace) -> FaultProxy:
    import signal

    kinds = [k.strip() for value in args.fault for k in value.split(",") if k.strip()]
    proxy = FaultProxy(
        args.upstream,
        kinds,
        args.rate,
        args.seed,
        paths=[p.strip() for p in args.paths.split(",") if p.strip()],
        port=args.port,
        retry_after_s=args.retry_after,
        delay_s=args.delay,
        freeze_s=args.freeze,
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if args.exit_on_stdin_eof:

        def watch() -> None:
            try:
                while sys.stdin.buffer.read(65536):
                    pass
            except (OSError, ValueError):
                pass
            loop.call_soon_threadsafe(stop.set)

        threading.Thread(target=watch, name="fault-proxy-stdin-eof", daemon=True).start()
    url = await proxy.start()
    line = {
        "listening": url,
        "upstream": proxy.upstream,
        "faults": list(proxy.kinds),
        "rate": proxy.rate,
        "seed": proxy.seed,
    }
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        await proxy.stop()
    return proxy


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pfterm.core.sim.fault_proxy``: serve until SIGINT/SIGTERM (or stdin EOF), then print
    ``{"summary": {...}}`` as one JSON line. Returns the exit status (2 for bad arguments)."""
    ap = _parser()
    args = ap.parse_args(argv)
    try:
        proxy = asyncio.run(_serve(args))
    except ValueError as exc:
        ap.error(str(exc))
    sys.stdout.write(json.dumps({"summary": proxy.summary()}) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
