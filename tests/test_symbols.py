"""Tests for pfterm.core.crossvenue.symbols: venue name ↔ canonical (Hyperliquid) symbol, scales, overrides."""

from __future__ import annotations

import pytest

from pfterm.core.crossvenue.symbols import DEFAULT_K_BASES, SymbolMap

CANONICAL = [
    # venue, native, canonical, scale
    ("hyperliquid", "BTC", "BTC", 1.0),
    ("hyperliquid", "kPEPE", "kPEPE", 1.0),
    ("hyperliquid", "0G", "0G", 1.0),
    ("sim", "ETH", "ETH", 1.0),
    ("binance", "BTCUSDT", "BTC", 1.0),
    ("binance", "1000PEPEUSDT", "kPEPE", 1.0),
    ("binance", "1000SHIBUSDT", "kSHIB", 1.0),
    ("binance", "1000SATSUSDT", "kSATS", 1.0),  # no HL market, but joins Binance ↔ Bybit
    ("binance", "1INCHUSDT", "1INCH", 1.0),
    ("binance", "2ZUSDT", "2Z", 1.0),
    ("binance", "btcusdt", "BTC", 1.0),  # stream names are lower-case
    ("binance", "DOGSUSDT", "kDOGS", 1000.0),  # HL lists only kDOGS
    ("bybit", "ETHUSDT", "ETH", 1.0),
    ("bybit", "1000PEPEUSDT", "kPEPE", 1.0),
    ("bybit", "SHIB1000USDT", "kSHIB", 1.0),
    ("okx", "BTC-USDT-SWAP", "BTC", 1.0),
    ("okx", "PEPE-USDT-SWAP", "kPEPE", 1000.0),
    ("okx", "1000PEPE-USDT-SWAP", "kPEPE", 1.0),
    ("dydx", "BTC-USD", "BTC", 1.0),
    ("dydx", "PEPE-USD", "kPEPE", 1000.0),
    ("dydx", "1INCH-USD", "1INCH", 1.0),
]

REJECTED = [
    ("hyperliquid", ""),
    ("hyperliquid", "@107"),
    ("hyperliquid", "PURR/USDC"),
    ("binance", "BTCUSDC"),  # USDC-margined
    ("binance", "BTCUSDT_250328"),  # dated
    ("binance", "BTCUSD_PERP"),  # COIN-M
    ("binance", "1000000MOGUSDT"),  # multiplier without HL equivalent
    ("binance", "1MBABYDOGEUSDT"),
    ("bybit", "10000LADYSUSDT"),
    ("bybit", "BTCPERP"),  # USDC perp
    ("bybit", "BTCUSDC"),
    ("bybit", "BTCUSD"),  # inverse
    ("bybit", "BTCUSDT-27MAR26"),  # dated
    ("bybit", "BTC-27MAR26"),
    ("okx", "BTC-USD-SWAP"),  # coin-margined
    ("okx", "BTC-USDC-SWAP"),  # USDC-margined
    ("okx", "BTC-USDT-260327"),  # dated
    ("okx", "BTC-USDT"),  # spot
    ("dydx", "BTC-USDT"),
    ("dydx", "BTCUSD"),
    ("dydx", ""),
]


@pytest.mark.parametrize(("venue", "native", "canonical", "scale"), CANONICAL)
def test_canonical_and_scale(venue: str, native: str, canonical: str, scale: float) -> None:
    m = SymbolMap()
    assert m.canonical(venue, native) == canonical
    assert m.scale(venue, native) == scale
    assert m.resolve(venue, native) == (canonical, scale)
    assert m.to_symbol(venue)(native) == canonical


@pytest.mark.parametrize(("venue", "native"), REJECTED)
def test_rejected(venue: str, native: str) -> None:
    m = SymbolMap()
    assert m.canonical(venue, native) is None
    assert m.resolve(venue, native) is None
    with pytest.raises(ValueError):
        m.scale(venue, native)


NATIVE = [
    ("hyperliquid", "kPEPE", "kPEPE"),
    ("binance", "BTC", "BTCUSDT"),
    ("binance", "kPEPE", "1000PEPEUSDT"),
    ("binance", "kDOGS", "1000DOGSUSDT"),  # a guess: register() corrects it from the listing
    ("bybit", "kPEPE", "1000PEPEUSDT"),
    ("okx", "BTC", "BTC-USDT-SWAP"),
    ("okx", "kPEPE", "PEPE-USDT-SWAP"),
    ("dydx", "ETH", "ETH-USD"),
    ("dydx", "kPEPE", "PEPE-USD"),
    ("okx", "kSATS", "1000SATS-USDT-SWAP"),  # plain SATS is not a k-base
]


@pytest.mark.parametrize(("venue", "canonical", "native"), NATIVE)
def test_native_inverse(venue: str, canonical: str, native: str) -> None:
    m = SymbolMap()
    assert m.native(venue, canonical) == native
    assert m.canonical(venue, native) == canonical


def test_kpepe_joins_every_venue() -> None:
    m = SymbolMap()
    natives = {
        "hyperliquid": "kPEPE",
        "binance": "1000PEPEUSDT",
        "bybit": "1000PEPEUSDT",
        "okx": "PEPE-USDT-SWAP",
        "dydx": "PEPE-USD",
    }
    assert {m.canonical(v, n) for v, n in natives.items()} == {"kPEPE"}
    # A 1000PEPE price of 0.0123 USD is the kPEPE price; OKX's per-PEPE price is × 1000.
    assert m.rescale("okx", "PEPE-USDT-SWAP", price=0.0000123, size_base=5_000_000.0) == pytest.approx((0.0123, 5000.0))
    assert m.rescale("binance", "1000PEPEUSDT", price=0.0123, size_base=None) == (0.0123, None)


def test_overrides_map_exclude_and_invert() -> None:
    m = SymbolMap(
        {
            "Binance": {"1000000MOGUSDT": "MOG", "NEIROUSDT": None, "neiroethusdt": "kNEIRO"},
            "okx": {"BTC-USDT-SWAP": ""},
        }
    )
    assert m.canonical("binance", "1000000MOGUSDT") == "MOG"
    assert m.scale("binance", "1000000MOGUSDT") == pytest.approx(1e-6)
    assert m.canonical("binance", "NEIROUSDT") is None
    assert m.canonical("binance", "NEIROETHUSDT") == "kNEIRO"
    assert m.scale("binance", "NEIROETHUSDT") == 1000.0
    assert m.native("binance", "kNEIRO") == "NEIROETHUSDT"
    assert m.native("binance", "MOG") == "1000000MOGUSDT"
    assert m.canonical("okx", "BTC-USDT-SWAP") is None
    assert m.native("okx", "BTC") is None
    assert m.canonical("binance", "BTCUSDT") == "BTC"  # untouched


def test_register_learns_listing_and_resolves_clashes() -> None:
    m = SymbolMap()
    got = m.register("bybit", ["BTCUSDT", "SHIB1000USDT", "BTCPERP", "DOGSUSDT", "1000DOGSUSDT"])
    assert got == {"BTCUSDT": "BTC", "SHIB1000USDT": "kSHIB", "1000DOGSUSDT": "kDOGS"}
    assert m.native("bybit", "kSHIB") == "SHIB1000USDT"
    assert m.canonical("bybit", "DOGSUSDT") is None  # lost the clash to the preferred spelling
    assert m.native("bybit", "kDOGS") == "1000DOGSUSDT"
    # A new listing replaces the old one.
    m.register("bybit", ["DOGSUSDT"])
    assert m.canonical("bybit", "DOGSUSDT") == "kDOGS"
    assert m.native("bybit", "kDOGS") == "DOGSUSDT"


def test_k_bases_configurable() -> None:
    m = SymbolMap(k_bases=())
    assert m.canonical("okx", "PEPE-USDT-SWAP") == "PEPE"
    assert m.scale("okx", "PEPE-USDT-SWAP") == 1.0
    assert "PEPE" in DEFAULT_K_BASES


def test_unknown_venue() -> None:
    m = SymbolMap()
    with pytest.raises(ValueError):
        m.canonical("kraken", "XBTUSD")
    with pytest.raises(ValueError):
        m.to_symbol("kraken")
    with pytest.raises(ValueError):
        SymbolMap({"kraken": {"X": "Y"}})
