"""The official Hyperliquid Python SDK (``hyperliquid-python-sdk``, pinned in
tests/constraints.txt) trades against the simulator without patches: wire compatibility of
``/info`` and ``/exchange``. The server runs on 127.0.0.1 in a background thread with its own
event loop (the SDK is synchronous, ``requests``-based); ``Info(skip_ws=True)`` opens no
WebSocket, and every URL the SDK is given is the local one, so nothing reaches the venue.

The SDK signs with ``is_mainnet = (base_url == MAINNET_API_URL)``, i.e. as testnet (source
``"b"``) here, so the server is built with ``is_mainnet=False`` (``python -m pfterm.core.sim --testnet``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

hl_info = pytest.importorskip("hyperliquid.info")
hl_exchange = pytest.importorskip("hyperliquid.exchange")
from eth_account import Account  # noqa: E402
from hyperliquid.utils.types import Cloid  # noqa: E402

from pfterm.core.sim.market import MarketModel  # noqa: E402
from pfterm.core.sim.server import SimulatorServer  # noqa: E402
from pfterm.core.sim.snapshot import load_snapshot  # noqa: E402


class _ServerThread:
    """A :class:`SimulatorServer` on its own loop in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.server: SimulatorServer | None = None
        self.thread = threading.Thread(target=self._run, name="sim-sdk", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        model = MarketModel(load_snapshot(), seed=3, start_ms=int(time.time() * 1000), cascade_rate_per_hour=0.0)
        self.server = SimulatorServer(model, speed=1.0, tick_hz=20.0, is_mainnet=False, starting_usdc=100_000.0)
        self.loop.run_until_complete(self.server.start())
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.server.stop())
        self.loop.close()

    def __enter__(self) -> SimulatorServer:
        self.thread.start()
        assert self.ready.wait(30), "simulator did not start"
        assert self.server is not None
        return self.server

    def __exit__(self, *_exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with _ServerThread() as server:
        assert server.http_url is not None and server.http_url.startswith("http://127.0.0.1:")
        yield server.http_url


def _statuses(reply: dict) -> list[dict]:
    assert reply["status"] == "ok", reply
    return reply["response"]["data"]["statuses"]


def test_sdk_reads(base_url: str) -> None:
    info = hl_info.Info(base_url, skip_ws=True)
    meta = info.meta()
    assert meta["universe"][0]["name"] == "BTC"
    assert info.name_to_asset("BTC") == 0 and info.name_to_asset("UBTC/USDC") == 10142
    mids = info.all_mids()
    assert float(mids["BTC"]) > 0 and float(mids["@142"]) > 0
    user = Account.create().address
    state = info.user_state(user)
    assert float(state["marginSummary"]["accountValue"]) == pytest.approx(100_000.0)
    assert info.open_orders(user) == []
    assert info.spot_user_state(user)["balances"][0]["coin"] == "USDC"
    assert info.spot_meta()["universe"][0]["name"] == "PURR/USDC"
    ctx_meta, ctxs = info.spot_meta_and_asset_ctxs()
    assert len(ctxs) == len(ctx_meta["universe"])


def test_sdk_trades(base_url: str) -> None:
    wallet = Account.create()
    ex = hl_exchange.Exchange(wallet, base_url)
    info = hl_info.Info(base_url, skip_ws=True)
    me = wallet.address

    # Resting GTC far below the market, with a cloid; cancel it by oid.
    mid = float(info.all_mids()["ETH"])
    px = round(float(f"{mid * 0.8:.5g}"), 2)
    cloid = Cloid.from_str("0x" + "00" * 15 + "01")
    [st] = _statuses(ex.order("ETH", True, 0.01, px, {"limit": {"tif": "Gtc"}}, cloid=cloid))
    oid = st["resting"]["oid"]
    assert st["resting"]["cloid"] == cloid.to_raw()
    assert [o["oid"] for o in info.open_orders(me)] == [oid]
    assert _statuses(ex.cancel("ETH", oid)) == ["success"]
    assert info.open_orders(me) == []

    # Again, cancelled by cloid this time.
    cloid2 = Cloid.from_str("0x" + "00" * 15 + "02")
    [st] = _statuses(ex.order("ETH", True, 0.01, px, {"limit": {"tif": "Gtc"}}, cloid=cloid2))
    assert "resting" in st
    assert _statuses(ex.cancel_by_cloid("ETH", cloid2)) == ["success"]
    assert info.open_orders(me) == []

    # Leverage, then a market (aggressive IOC) open and close.
    assert ex.update_leverage(5, "ETH") == {"status": "ok", "response": {"type": "default"}}
    [st] = _statuses(ex.market_open("ETH", True, 0.05))
    assert float(st["filled"]["totalSz"]) == pytest.approx(0.05)
    [pos] = info.user_state(me)["assetPositions"]
    assert pos["position"]["coin"] == "ETH" and float(pos["position"]["szi"]) == pytest.approx(0.05)
    assert pos["position"]["leverage"] == {"type": "cross", "value": 5}
    [st] = _statuses(ex.market_close("ETH"))
    assert float(st["filled"]["totalSz"]) == pytest.approx(0.05)
    assert info.user_state(me)["assetPositions"] == []

    # Dead man's switch: set (≥ 5 s ahead on the server's clock, here the wall clock) and clear.
    assert ex.schedule_cancel(int(time.time() * 1000) + 60_000) == {"status": "ok", "response": {"type": "default"}}
    assert ex.schedule_cancel(None) == {"status": "ok", "response": {"type": "default"}}


def test_sdk_spot_market_order(base_url: str) -> None:
    wallet = Account.create()
    ex = hl_exchange.Exchange(wallet, base_url)
    info = hl_info.Info(base_url, skip_ws=True)
    [st] = _statuses(ex.market_open("UBTC/USDC", True, 0.01))
    assert float(st["filled"]["totalSz"]) == pytest.approx(0.01)
    balances = {b["coin"]: float(b["total"]) for b in info.spot_user_state(wallet.address)["balances"]}
    assert balances["UBTC"] == pytest.approx(0.01 * (1 - 0.0007))
    assert balances["USDC"] < 100_000.0
    fills = info.user_fills(wallet.address)
    assert fills and all(f["coin"] == "@142" for f in fills)
