"""Trading through the simulator server (``pfterm.core.sim.server``): signed ``POST /exchange``, the
``/info`` user queries and the WebSocket user channels, over 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from pfterm.core.sim.market import MarketModel
from pfterm.core.sim.server import NONCE_KEPT, WELCOME_TEXT, SimulatorServer
from pfterm.core.sim.snapshot import load_snapshot
from pfterm.core.venues.hyperliquid.orders import (
    Cloid,
    cancel_action,
    cancel_by_cloid_action,
    market_price,
    order_action,
    order_wire,
    round_price,
    schedule_cancel_action,
    update_leverage_action,
)
from pfterm.core.venues.hyperliquid.signing import Signer

if TYPE_CHECKING:
    from tests.conftest import StartSimulator

START = 1_767_225_600_000 + 30 * 60 * 1000
"""Sim start: half past the hour, so one hour boundary is 30 sim minutes away."""

_SNAPSHOT = load_snapshot()
_BTC = 0  # asset id of BTC in the packaged snapshot
_DAY_MS = 86_400_000


@pytest.fixture
async def server(start_simulator: StartSimulator) -> SimulatorServer:
    model = MarketModel(_SNAPSHOT, seed=1, start_ms=START, cascade_rate_per_hour=0.0)
    return await start_simulator(SimulatorServer(model, speed=0.0, tick_hz=50.0, starting_usdc=50_000.0))


@pytest.fixture
async def http(server: SimulatorServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http_url or "", timeout=5.0) as client:
        yield client


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class _Nonces:
    """Strictly increasing wall-clock nonces for the tests."""

    def __init__(self) -> None:
        self.last = 0

    def __call__(self) -> int:
        self.last = max(self.last + 1, _now_ms())
        return self.last


_nonce = _Nonces()


def _body(signer: Signer, action: dict[str, Any], nonce: int | None = None, **extra: Any) -> dict[str, Any]:
    n = _nonce() if nonce is None else nonce
    sig = signer.sign_l1_action(action, nonce_ms=n, expires_after_ms=extra.get("expiresAfter"))
    return {"action": action, "nonce": n, "signature": sig, "vaultAddress": None, **extra}


async def _post(http: httpx.AsyncClient, body: Any) -> Any:
    r = await http.post("/exchange", json=body)
    assert r.status_code == 200, r.text
    return r.json()


async def _act(http: httpx.AsyncClient, signer: Signer, action: dict[str, Any], **kw: Any) -> Any:
    return await _post(http, _body(signer, action, **kw))


async def _info(http: httpx.AsyncClient, body: dict[str, Any]) -> Any:
    r = await http.post("/info", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def _mid(server: SimulatorServer, coin: str = "BTC") -> float:
    return server.model.market(coin).mid


def _ioc(server: SimulatorServer, is_buy: bool, sz: float, **kw: Any) -> dict[str, Any]:
    px = market_price(_mid(server), is_buy, sz_decimals=5)
    return order_action([order_wire(_BTC, is_buy, px, sz, False, "Ioc", **kw)])


def _gtc(server: SimulatorServer, is_buy: bool, sz: float, *, away: float = 0.1, **kw: Any) -> dict[str, Any]:
    raw = _mid(server) * (1 - away if is_buy else 1 + away)
    px = round_price(raw, 5)
    return order_action([order_wire(_BTC, is_buy, px, sz, False, "Gtc", **kw)])


def _position(state: dict[str, Any], coin: str) -> dict[str, Any] | None:
    for entry in state["assetPositions"]:
        if entry["position"]["coin"] == coin:
            return entry["position"]
    return None


class _Feed:
    """A WebSocket connection whose frames are matched in arrival order; frames skipped while
    waiting for subscription acks stay available to later :meth:`next` calls."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
        self.backlog: list[Any] = []

    async def send(self, obj: Any) -> None:
        await self.conn.send(json.dumps(obj))

    async def next(self, pred: Callable[[Any], bool], timeout: float = 3.0, *, keep: bool = True) -> Any:
        """The first frame matching ``pred``; non-matching frames go to the backlog when
        ``keep``, and are dropped otherwise."""
        for i, msg in enumerate(self.backlog):
            if pred(msg):
                del self.backlog[i]
                return msg
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no matching frame")
            try:
                msg = json.loads(await asyncio.wait_for(self.conn.recv(), left))
            except TimeoutError:
                raise AssertionError("no matching frame") from None
            if pred(msg):
                return msg
            if keep:
                self.backlog.append(msg)

    async def close(self) -> None:
        await self.conn.close()


async def _ws(server: SimulatorServer, *subs: dict[str, Any]) -> _Feed:
    assert server.ws_url is not None
    conn = await connect(server.ws_url, ping_interval=None, max_queue=64)
    assert await asyncio.wait_for(conn.recv(), 2) == WELCOME_TEXT
    feed = _Feed(conn)
    for sub in subs:
        await feed.send({"method": "subscribe", "subscription": sub})
        ack = await feed.next(lambda m: m["channel"] == "subscriptionResponse")
        assert ack["data"]["subscription"] == sub
    return feed


def _update(status: str, oid: int | None = None) -> Callable[[Any], bool]:
    def pred(m: Any) -> bool:
        return m["channel"] == "orderUpdates" and any(
            u["status"] == status and (oid is None or u["order"]["oid"] == oid) for u in m["data"]
        )

    return pred


# --- orders and state ---------------------------------------------------------------------


async def test_ioc_buy_opens_position(server: SimulatorServer, http: httpx.AsyncClient) -> None:
    alice = Signer.generate()
    reply = await _act(http, alice, _ioc(server, True, 0.01))
    assert reply["status"] == "ok" and reply["response"]["type"] == "order"
    (status,) = reply["response"]["data"]["statuses"]
    assert status["filled"]["totalSz"] == "0.01"
    assert float(status["filled"]["avgPx"]) > 0

    # Addresses are case-insensitive on /info.
    for user in (alice.address, alice.address.lower(), alice.address.upper().replace("0X", "0x")):
        state = await _info(http, {"type": "clearinghouseState", "user": user})
        pos = _position(state, "BTC")
        assert pos is not None and pos["szi"] == "0.01"
    fills = await _info(http, {"type": "userFills", "user": alice.address})
    assert len(fills) >= 1 and {f["oid"] for f in fills} == {status["filled"]["oid"]}
    assert all(f["side"] == "B" and f["crossed"] for f in fills)


async def test_gtc_rests_then_cancels(server: SimulatorServer, http: httpx.AsyncClient) -> None:
    alice = Signer.generate()
    cloid = Cloid.from_int(7)
    r1 = await _act(http, alice, _gtc(server, True, 0.01))
    r2 = await _act(http, alice, _gtc(server, True, 0.02, cloid=cloid))
    oid1 = r1["response"]["data"]["statuses"][0]["resting"]["oid"]
    rest2 = r2["response"]["data"]["statuses"][0]["resting"]
    assert rest2["cloid"] == cloid.to_raw()

    opened = await _info(http, {"type": "openOrders", "user": alice.address})
    assert {o["oid"] for o in opened} == {oid1, rest2["oid"]}
    assert all(o["coin"] == "BTC" and o["side"] == "B" for o in opened)
    frontend = await _info(http, {"type": "frontendOpenOrders", "user": alice.address.lower()})
    assert {o["oid"] for o in frontend} == {oid1, rest2["oid"]}
    assert all(o["orderType"] == "Limit" and o["isTrigger"] is False for o in frontend)

    reply = await _act(http, alice, cancel_action([(_BTC, oid1)]))
    assert reply == {"status": "ok", "response": {"type": "cancel", "data": {"statuses": ["success"]}}}
    reply = await _act(http, alice, cancel_by_cloid_action([(_BTC, cloid)]))
    assert reply["response"]["data"]["statuses"] == ["success"]
    assert await _info(http, {"type": "openOrders", "user": alice.address}) == []

    # Cancelling again answers ok with an error entry.
    reply = await _act(http, alice, cancel_action([(_BTC, oid1)]))
    assert reply["status"] == "ok"
    assert "never placed, already canceled, or filled" in reply["response"]["data"]["statuses"][0]["error"]


async def test_rejected_order_is_ok_with_error_entry(server: SimulatorServer, http: httpx.AsyncClient) -> None:
    alice = Signer.generate()
    tiny = _gtc(server, True, 0.00001)  # about $0.8 of notional
    reply = await _act(http, alice, tiny)
    assert reply["status"] == "ok" and reply["response"]["type"] == "order"
    (status,) = reply["response"]["data"]["statuses"]
    assert "minimum value of $10" in status["error"]
    # A batch mixes accepted and rejected orders.
    batch = order_action(
        [
            order_wire(_BTC, True, round_price(_mid(server) * 0.9, 5), 0.01, False, "Gtc"),
            order_wire(_BTC, True, round_price(_mid(server) * 0.5, 5), 0.01, False, "Ioc"),
        ]
    )
    statuses = (await _act(http, alice, batch))["response"]["data"]["statuses"]
    assert "resting" in statuses[0] and "could not immediately match" in statuses[1]["error"]


async def test_update_leverage(server: SimulatorServer, http: httpx.AsyncClient) -> None:
    alice = Signer.generate()
    reply = await _act(http, alice, update_leverage_action(_BTC, True, 5))
    assert reply == {"status": "ok", "response": {"type": "default"}}
    await _act(http, alice, _ioc(server, True, 0.01))
    state = await _info(http, {"type": "clearinghouseState", "user": alice.address})
    assert _position(state, "BTC")["leverage"] == {"type": "cross", "value": 5}  # type: ignore[index]
    reply = await _act(http, alice, update_leverage_action(_BTC, True, 10_000))
    assert reply["status"] == "err" and "leverage" in reply["response"].lower()
    reply = await _act(http, alice, update_leverage_action(_BTC, False, 5))
    assert reply["status"] == "err" and "Isolated" in reply["response"]


# --- signatures --------------------------------------------------------------------------


async def test_actions_land_on_the_signer(server: SimulatorServer, http: httpx.AsyncClient) -> None:
    alice, bob = Signer.generate(), Signer.generate()
    await _act(http, alice, _gtc(server, True, 0.01))
    assert len(await _info(http, {"type": "openOrders", "user": alice.address})) == 1
    assert await _info(http, {"type": "openOrders", "user": bob.address}) == []


async def test_tampered_action_lands_on_an_unrelated_account(server: SimulatorServer, http: httpx.AsyncClient) -> None:
    alice = Signer.generate()
    signed = _gtc(server, True, 0.01)
    body = _body(alice, signed)
    body["action"] = json.loads(json.dumps(signed))
    body["action"]["orders"][0]["s"] = "0.02"  # not what alice signed
    reply = await _post(http, body)
    assert reply["status"] == "ok"  # accepted, for whoever the signature recovers to
    assert await _info(http, {"type": "openOrders", "user": alice.address}) == []
    others = [a for a in server.exchange.addresses if a != alice.address.lower()]
    assert len(others) == 1
    assert (await _info(http, {"type": "openOrders", "user": others[0]}))[0]["sz"] == "0.02"

    # A testnet signature (source "b") recovers to another address on this mainnet server.
    n = _nonce()
    sig = alice.sign_l1_action(signed, nonce_ms=n, is_mainnet=False)
    reply = await _post(http, {"action": signed, "nonce": n, "signature": sig, "vaultAddress": None})
    assert reply["status"] == "ok"
    assert await _info(http, {"type": "openOrders", "user": alice.address}) == []


async def test_malformed_requests(server: SimulatorServer, http: httpx.AsyncClient) -> None:
    alice = Signer.generate()
    action = _gtc(server, True, 0.01)
    r = await http.post("/exchange", content=b"{not json")
    assert r.status_code == 422

    body = _body(alice, action)
    body["signature"] = {"r": "0x1", "s": "zz", "v": 27}
    reply = await _post(http, body)
    assert reply["status"] == "err" and "signature" in reply["response"].lower()

    body = _body(alice, action)
    del body["signature"]
    assert (await _post(http, body))["status"] == "err"

    body = _body(alice, action)
    body["vaultAddress"] = "0x" + "ab" * 20
    reply = await _post(http, body)
    assert reply["status"] == "err" and "not supported" in reply["response"]

    reply = await _act(http, alice, {"type": "twapOrder", "twap": {}})
    assert reply == {"status": "err", "response": "Unknown action type: twapOrder"}

    reply = await _act(http, alice, {"type": "order", "orders": "nope", "grouping": "na"})
    assert reply["status"] == "err"

    body = _body(alice, action)
    body["action"] = {"type": "order", "orders": [{"a": 2**70}], "grouping": "na"}
    reply = await _post(http, body)
    assert reply["status"] == "err" and reply["response"].startswith("Invalid signature")
    assert server.exchange.addresses == []  # nothing above reached an account


# --- nonces ------------------------------------------------------------------------------


async def test_reused_and_out_of_window_nonces_rejected(server: SimulatorServer, http: httpx.AsyncClient) -> None:
    alice = Signer.generate()
    action = _gtc(server, True, 0.01)
    n = _nonce()
    assert (await _post(http, _body(alice, action, nonce=n)))["status"] == "ok"
    reply = await _post(http, _body(alice, action, nonce=n))
    assert reply["status"] == "err" and reply["response"].startswith("Invalid nonce")
    assert "duplicate" in reply["response"]

    reply = await _post(http, _body(alice, action, nonce=_now_ms() - 3 * _DAY_MS))
    assert reply["status"] == "err" and reply["response"].startswith("Invalid nonce")
    reply = await _post(http, _body(alice, action, nonce=_now_ms() + 2 * _DAY_MS))
    assert reply["status"] == "err" and reply["response"].startswith("Invalid nonce")
    # An older nonce than the last one is fine while fewer than 100 are remembered.
    assert (await _post(http, _body(alice, action, nonce=n - 5_000)))["status"] == "ok"
    # Another signer has its own nonce set.
    assert (await _post(http, _body(Signer.generate(), action, nonce=n)))["status"] == "ok"
    assert len(await _info(http, {"type": "openOrders", "user": alice.address})) == 2

    reply = await _post(http, _body(alice, action, expiresAfter=_now_ms() - 1_000))
    assert reply["status"] == "err" and "expired" in reply["response"]
    assert (await _post(http, _body(alice, action, expiresAfter=_now_ms() + 60_000)))["status"] == "ok"


def test_nonce_must_exceed_smallest_of_the_highest_hundred(server: SimulatorServer) -> None:
    bob = Signer.generate()
    action = {"type": "scheduleCancel"}
    base = _now_ms() - 60_000
    for i in range(NONCE_KEPT):
        assert server.exchange_request(_body(bob, action, nonce=base + 10 * i))["status"] == "ok"
    # Below the smallest kept nonce: refused, even though never used.
    reply = server.exchange_request(_body(bob, action, nonce=base - 1))
    assert reply["status"] == "err" and "not greater than the smallest" in reply["response"]
    # Between kept nonces: accepted, and it evicts the smallest.
    assert server.exchange_request(_body(bob, action, nonce=base + 5))["status"] == "ok"
    assert server.exchange_request(_body(bob, action, nonce=base + 1))["status"] == "err"


# --- time-driven behaviour -----------------------------------------------------------------


async def test_schedule_cancel_fires_on_sim_time(server: SimulatorServer, http: httpx.AsyncClient) -> None:
    alice = Signer.generate()
    conn = await _ws(server, {"type": "orderUpdates", "user": alice.address})
    try:
        placed = await _act(http, alice, _gtc(server, False, 0.01))
        oid = placed["response"]["data"]["statuses"][0]["resting"]["oid"]
        await conn.next(_update("open", oid))

        now = server.model.now_ms
        reply = await _act(http, alice, schedule_cancel_action(now + 1_000))
        assert reply["status"] == "err" and "at least 5 seconds" in reply["response"]
        reply = await _act(http, alice, schedule_cancel_action(now + 60_000))
        assert reply == {"status": "ok", "response": {"type": "default"}}

        server.speed = 600.0  # 60 sim seconds in 0.1 s
        msg = await conn.next(_update("scheduledCancel", oid))
        (update,) = msg["data"]
        assert update["order"]["coin"] == "BTC" and update["statusTimestamp"] >= now + 60_000
        assert await _info(http, {"type": "openOrders", "user": alice.address}) == []
    finally:
        await conn.close()


async def test_funding_settles_after_hour_boundary(server: SimulatorServer, http: httpx.AsyncClient) -> None:
    alice = Signer.generate()
    await _act(http, alice, _ioc(server, True, 0.1))
    conn = await _ws(
        server,
        {"type": "userFundings", "user": alice.address},
        {"type": "userEvents", "user": alice.address},
    )
    try:
        snap = await conn.next(lambda m: m["channel"] == "userFundings")
        assert snap["data"] == {"isSnapshot": True, "user": alice.address.lower(), "fundings": []}
        # the boundary 30 sim minutes ahead passes in about a second; the next one is two
        # seconds further, so a slow machine cannot sweep past both before the clock stops
        server.speed = 1_800.0
        msg = await conn.next(lambda m: m["channel"] == "userFundings", timeout=15.0)
        server.speed = 0.0
        (row,) = msg["data"]["fundings"]
        assert row["coin"] == "BTC" and row["szi"] == "0.1" and row["time"] == START + 30 * 60 * 1000
        event = await conn.next(lambda m: m["channel"] == "user" and "funding" in m["data"])
        assert event["data"]["funding"] == row
    finally:
        await conn.close()
    rows = await _info(http, {"type": "userFunding", "user": alice.address, "startTime": START})
    assert rows[0]["time"] == row["time"] and rows[0]["delta"]["usdc"] == row["usdc"]
    assert rows[0]["delta"]["type"] == "funding"
    bounded = await _info(
        http, {"type": "userFunding", "user": alice.address, "startTime": START, "endTime": START + 1}
    )
    assert bounded == []
    state = await _info(http, {"type": "clearinghouseState", "user": alice.address})
    paid = float(_position(state, "BTC")["cumFunding"]["allTime"])  # type: ignore[index]
    assert paid == pytest.approx(-sum(float(r["delta"]["usdc"]) for r in rows), abs=1e-6)


# --- WebSocket user channels -----------------------------------------------------------------


async def test_ws_order_updates_and_fills(server: SimulatorServer, http: httpx.AsyncClient) -> None:
    alice = Signer.generate()
    await _act(http, alice, _ioc(server, True, 0.01))  # a fill before subscribing
    conn = await _ws(
        server,
        {"type": "orderUpdates", "user": alice.address},
        {"type": "userFills", "user": alice.address},
        {"type": "userEvents", "user": alice.address},
    )
    try:
        snap = await conn.next(lambda m: m["channel"] == "userFills")
        assert snap["data"]["isSnapshot"] is True and len(snap["data"]["fills"]) >= 1
        assert snap["data"]["user"] == alice.address.lower()

        cloid = Cloid.from_int(42)
        placed = await _act(http, alice, _gtc(server, True, 0.01, cloid=cloid))
        oid = placed["response"]["data"]["statuses"][0]["resting"]["oid"]
        msg = await conn.next(_update("open", oid))
        order = msg["data"][0]["order"]
        assert order["cloid"] == cloid.to_raw() and order["sz"] == order["origSz"] == "0.01"
        assert order["side"] == "B" and order["coin"] == "BTC"

        filled = await _act(http, alice, _ioc(server, False, 0.02))
        foid = filled["response"]["data"]["statuses"][0]["filled"]["oid"]
        msg = await conn.next(_update("filled", foid))
        done = next(u for u in msg["data"] if u["order"]["oid"] == foid)
        assert done["order"]["sz"] == "0.0" and done["order"]["origSz"] == "0.02"
        fills = await conn.next(lambda m: m["channel"] == "userFills")
        assert "isSnapshot" not in fills["data"]
        assert {f["oid"] for f in fills["data"]["fills"]} == {foid}
        assert all(f["side"] == "A" for f in fills["data"]["fills"])
        event = await conn.next(lambda m: m["channel"] == "user")
        assert event["data"]["fills"] == fills["data"]["fills"]

        await _act(http, alice, cancel_by_cloid_action([(_BTC, cloid)]))
        msg = await conn.next(_update("canceled", oid))
        assert msg["data"][0]["order"]["cloid"] == cloid.to_raw()

        # Unsubscribing stops the pushes.
        sub = {"type": "orderUpdates", "user": alice.address}
        await conn.send({"method": "unsubscribe", "subscription": sub})
        await conn.next(lambda m: m["channel"] == "subscriptionResponse")
        conn.backlog.clear()
        await _act(http, alice, _gtc(server, True, 0.01))
        with pytest.raises(AssertionError):
            await conn.next(lambda m: m["channel"] == "orderUpdates", timeout=0.3)
    finally:
        await conn.close()


async def test_ws_user_subscription_needs_an_address(server: SimulatorServer) -> None:
    conn = await _ws(server)
    try:
        await conn.send({"method": "subscribe", "subscription": {"type": "orderUpdates", "user": "bob"}})
        err = await conn.next(lambda m: True)
        assert err["channel"] == "error" and "Invalid subscription" in err["data"]
    finally:
        await conn.close()


async def test_info_user_queries_validate(http: httpx.AsyncClient) -> None:
    r = await http.post("/info", json={"type": "clearinghouseState"})
    assert r.status_code == 422 and "user" in r.text
    r = await http.post("/info", json={"type": "openOrders", "user": "0x1234"})
    assert r.status_code == 422
    r = await http.post("/info", json={"type": "userFunding", "user": "0x" + "1" * 40})
    assert r.status_code == 422 and "startTime" in r.text
    state = await _info(http, {"type": "clearinghouseState", "user": "0x" + "A" * 40})
    assert state["marginSummary"]["accountValue"] == "50000.0" and state["assetPositions"] == []


def test_cli_starting_usdc_flag() -> None:
    from pfterm.core.sim.__main__ import build_parser

    assert build_parser().parse_args(["--starting-usdc", "2500"]).starting_usdc == 2500.0
    assert build_parser().parse_args([]).starting_usdc == 100_000.0
