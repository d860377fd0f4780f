"""Lockstep clock (``SimulatorServer.advance``, ``POST /sim/advance``) and funding regimes
(``MarketModel(regime=..., regime_flip_at_ms=...)``) of the embedded simulator."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from pfterm.core.sim.__main__ import build_parser
from pfterm.core.sim.market import HOUR_MS, MarketModel
from pfterm.core.sim.server import SimulatorServer
from pfterm.core.sim.snapshot import load_snapshot
from pfterm.core.venues.hyperliquid.orders import market_price, order_action, order_wire, round_price
from pfterm.core.venues.hyperliquid.signing import Signer

if TYPE_CHECKING:
    from tests.conftest import StartSimulator

START = 1_767_225_600_000 + 30 * 60 * 1000
"""Sim start: half past the hour."""
_SNAPSHOT = load_snapshot()
_BTC = 0
_KEY = "0x" + "1" * 64
_COINS = ("BTC", "ETH", "HYPE")


class _Nonces:
    def __init__(self) -> None:
        self.last = 0

    def __call__(self) -> int:
        self.last = max(self.last + 1, time.time_ns() // 1_000_000)
        return self.last


_nonce = _Nonces()


def _server(seed: int = 3, **kw: Any) -> SimulatorServer:
    model_kw = {k: kw.pop(k) for k in ("regime", "regime_flip_at_ms", "cascade_rate_per_hour") if k in kw}
    model = MarketModel(_SNAPSHOT, seed=seed, start_ms=START, **model_kw)
    kw.setdefault("lockstep", True)
    return SimulatorServer(model, starting_usdc=50_000.0, **kw)


async def _start(start_simulator: StartSimulator, srv: SimulatorServer) -> httpx.AsyncClient:
    await start_simulator(srv)
    return httpx.AsyncClient(base_url=srv.http_url or "", timeout=30.0)


async def _act(http: httpx.AsyncClient, signer: Signer, action: dict[str, Any]) -> Any:
    n = _nonce()
    body = {"action": action, "nonce": n, "signature": signer.sign_l1_action(action, nonce_ms=n), "vaultAddress": None}
    r = await http.post("/exchange", json=body)
    assert r.status_code == 200, r.text
    reply = r.json()
    assert reply["status"] == "ok", reply
    return reply


async def _info_bytes(http: httpx.AsyncClient, body: dict[str, Any]) -> bytes:
    r = await http.post("/info", json=body)
    assert r.status_code == 200, r.text
    return r.content


async def _advance(http: httpx.AsyncClient, seconds: float, step_s: float = 60.0) -> int:
    r = await http.post("/sim/advance", json={"seconds": seconds, "step_s": step_s})
    assert r.status_code == 200, r.text
    return r.json()["now_ms"]


def _ioc(srv: SimulatorServer, is_buy: bool, sz: float) -> dict[str, Any]:
    px = market_price(srv.model.market("BTC").mid, is_buy, sz_decimals=5)
    return order_action([order_wire(_BTC, is_buy, px, sz, False, "Ioc")])


def _gtc(srv: SimulatorServer, is_buy: bool, sz: float, away: float) -> dict[str, Any]:
    raw = srv.model.market("BTC").mid * (1 - away if is_buy else 1 + away)
    return order_action([order_wire(_BTC, is_buy, round_price(raw, 5), sz, False, "Gtc")])


async def _session(http: httpx.AsyncClient, srv: SimulatorServer) -> list[bytes]:
    """A fixed sequence of requests and advances; returns every /info answer it read."""
    alice = Signer(_KEY)
    user = alice.address
    out: list[bytes] = []
    await _act(http, alice, _ioc(srv, False, 0.2))  # short 0.2 BTC
    await _act(http, alice, _gtc(srv, True, 0.05, 0.01))  # resting bid 1 % below
    await _act(http, alice, _gtc(srv, False, 0.05, 0.015))  # resting ask 1.5 % above
    await _advance(http, 86_400, 60)
    out.append(await _info_bytes(http, {"type": "clearinghouseState", "user": user}))
    await _act(http, alice, _ioc(srv, True, 0.1))
    await _advance(http, 86_400, 300)
    for body in (
        {"type": "clearinghouseState", "user": user},
        {"type": "metaAndAssetCtxs"},
        {"type": "userFunding", "user": user, "startTime": 0},
        {"type": "userFills", "user": user},
        {"type": "openOrders", "user": user},
        {"type": "fundingHistory", "coin": "ETH", "startTime": START},
        {"type": "l2Book", "coin": "BTC"},
    ):
        out.append(await _info_bytes(http, body))
    return out


async def test_advance_is_deterministic(start_simulator: StartSimulator) -> None:
    answers = []
    for _ in range(2):
        srv = _server(seed=3)
        async with await _start(start_simulator, srv) as http:
            answers.append(await _session(http, srv))
        assert srv.model.now_ms == START + 2 * 86_400_000
    assert answers[0] == answers[1]
    other = _server(seed=4)
    async with await _start(start_simulator, other) as http:
        assert await _session(http, other) != answers[0]


async def test_funding_settled_once_per_hour_with_big_steps(start_simulator: StartSimulator) -> None:
    srv = _server(regime="positive")
    alice = Signer(_KEY)
    async with await _start(start_simulator, srv) as http:
        await _act(http, alice, _ioc(srv, False, 0.1))
        # 5 h from half past: 5 boundaries; 2 h steps must be cut at every boundary
        await srv.advance(5 * 3_600, step_s=7_200)
        await srv.advance(0)
        await srv.advance(1_800, step_s=1e6)  # ends exactly on the 6th boundary
        rows = [
            r
            for r in (
                await http.post("/info", json={"type": "userFunding", "user": alice.address, "startTime": 0})
            ).json()
        ]
    first = START + 30 * 60 * 1000
    assert [r["time"] for r in rows] == [first + k * HOUR_MS for k in range(6)]
    for r in rows:
        assert r["delta"]["coin"] == "BTC" and r["delta"]["szi"] == "-0.1"
        assert float(r["delta"]["usdc"]) > 0  # positive funding: the short receives
    hist = {row.time_ms: row.rate for row in srv.model.funding_history("BTC")}
    assert [float(r["delta"]["fundingRate"]) for r in rows] == pytest.approx([hist[r["time"]] for r in rows], abs=1e-10)


async def test_positive_regime_funding_mostly_positive(start_simulator: StartSimulator) -> None:
    srv = _server(seed=7, regime="positive")
    await start_simulator(srv)
    await srv.advance(48 * 3_600, step_s=3_600)
    for coin in _COINS:
        rates = [r.rate for r in srv.model.funding_history(coin) if r.time_ms > START]
        assert len(rates) == 48
        assert sum(r > 0 for r in rates) >= 0.9 * len(rates), coin
        assert sorted(rates)[24] * 8_760 > 0.2, coin  # median above +20 % APR


async def test_negative_regime_and_flip(start_simulator: StartSimulator) -> None:
    flip = START + 30 * 60 * 1000 + 24 * HOUR_MS  # a top of the hour, 24.5 h after start
    neg = _server(seed=7, regime="negative")
    flipping = _server(seed=7, regime="positive", regime_flip_at_ms=flip)
    alice = Signer(_KEY)
    for srv in (neg, flipping):
        async with await _start(start_simulator, srv) as http:
            await _act(http, alice, _ioc(srv, False, 0.1))
            await srv.advance(48.5 * 3_600, step_s=600)
            rows = (
                await http.post("/info", json={"type": "userFunding", "user": alice.address, "startTime": 0})
            ).json()
            srv.rows = rows  # type: ignore[attr-defined]
    for coin in _COINS:
        rates = [r.rate for r in neg.model.funding_history(coin) if r.time_ms > START]
        assert sum(r < 0 for r in rates) >= 0.85 * len(rates), coin
        hist = [r for r in flipping.model.funding_history(coin) if r.time_ms > START]
        before = [r.rate for r in hist if r.time_ms <= flip]
        after = [r.rate for r in hist if r.time_ms > flip]
        assert len(before) == 25 and len(after) == 24
        assert sum(r > 0 for r in before) >= 0.9 * len(before), coin
        assert sum(r < 0 for r in after) >= 0.85 * len(after), coin
    # the short BTC position receives before the flip and pays after it
    rows = flipping.rows  # type: ignore[attr-defined]
    got = sum(float(r["delta"]["usdc"]) for r in rows if r["time"] <= flip)
    paid = sum(float(r["delta"]["usdc"]) for r in rows if r["time"] > flip)
    assert got > 0 > paid


def test_regime_arguments_validated() -> None:
    with pytest.raises(ValueError):
        MarketModel(_SNAPSHOT, seed=1, start_ms=START, regime="sideways")
    with pytest.raises(ValueError):
        MarketModel(_SNAPSHOT, seed=1, start_ms=START, regime_flip_at_ms=START + HOUR_MS)
    # a flip before the start just starts in the reversed regime
    m = MarketModel(_SNAPSHOT, seed=1, start_ms=START, regime="positive", regime_flip_at_ms=START - 1)
    assert m.market("BTC").basis_anchor < 0


async def test_sim_advance_route_only_in_lockstep(start_simulator: StartSimulator) -> None:
    free = _server(lockstep=False, speed=0.0)
    async with await _start(start_simulator, free) as http:
        r = await http.post("/sim/advance", json={"seconds": 60})
        assert r.status_code == 404
        assert free.model.now_ms == START
        await free.advance(120)  # in process, any server can be advanced
        assert free.model.now_ms == START + 120_000
    lock = _server(speed=60.0)
    assert lock.lockstep and lock.speed == 0.0
    with pytest.raises(ValueError):
        lock.speed = 1.0
    async with await _start(start_simulator, lock) as http:
        await asyncio.sleep(0.3)  # the tick loop runs but never moves the clock
        assert lock.model.now_ms == START
        assert await _advance(http, 90.5, 60) == START + 90_500
        r = await http.post("/sim/advance", json={"seconds": 60})  # step_s defaults to 60
        assert r.status_code == 200 and r.json() == {"now_ms": START + 150_500}
        for bad in ({"seconds": -1}, {"seconds": "1"}, {"seconds": True}, {"seconds": 1, "step_s": 0}, [1], {}):
            r = await http.post("/sim/advance", json=bad)
            assert r.status_code == 422, bad
        assert lock.model.now_ms == START + 150_500
        # concurrent advances run one after the other; /info waits for them
        results = await asyncio.gather(
            _advance(http, 3_600), _advance(http, 3_600), http.post("/info", json={"type": "allMids"})
        )
        assert lock.model.now_ms == START + 150_500 + 2 * 3_600_000
        assert max(results[0], results[1]) == lock.model.now_ms


def test_cli_flags() -> None:
    args = build_parser().parse_args(
        ["--lockstep", "--regime", "negative", "--regime-flip-at-ms", str(START + HOUR_MS)]
    )
    assert args.lockstep and args.regime == "negative" and args.regime_flip_at_ms == START + HOUR_MS
    args = build_parser().parse_args([])
    assert not args.lockstep and args.regime == "natural" and args.regime_flip_at_ms is None
