"""Join each venue's market names to one canonical symbol (Hyperliquid's coin names).

Canonical symbols are Hyperliquid's perp coin names (``"BTC"``, ``"kPEPE"``): pfterm trades
there, so the cross-venue funding matrix speaks its language. Every other venue's native
name is mapped by data-driven rules, then by explicit overrides (from config), which win.

Rules per venue (USD-stable linear perpetuals only):

=============  ======================  =======================================================
venue          native form             rejected (``None``)
=============  ======================  =======================================================
hyperliquid    ``{COIN}`` (identity)   empty names, spot names (``"@107"``, ``"PURR/USDC"``)
binance        ``{BASE}USDT``          USDC-margined (``BTCUSDC``), dated (``BTCUSDT_250328``),
                                       COIN-M (``BTCUSD_PERP``)
bybit          ``{BASE}USDT``          USDC perps (``BTCPERP``, ``BTCUSDC``), dated
                                       (``BTCUSDT-27MAR26``, ``BTC-27MAR26``), inverse
                                       (``BTCUSD``)
okx            ``{BASE}-USDT-SWAP``    coin-margined (``BTC-USD-SWAP``), USDC-margined
                                       (``BTC-USDC-SWAP``), dated (``BTC-USDT-260327``)
dydx           ``{BASE}-USD``          anything else (dYdX v4 markets are all perpetuals)
=============  ======================  =======================================================

``"sim"`` (the embedded simulator, which speaks the Hyperliquid protocol) is an identity venue
like ``hyperliquid``.

Unit multipliers ("1000" ↔ "k"):

* a base prefixed with exactly ``1000`` (``1000PEPEUSDT``) or, Bybit style, suffixed with it
  (``SHIB1000USDT``) quotes 1000 coins; Hyperliquid writes the same unit with a ``k`` prefix:
  ``1000PEPEUSDT`` → ``kPEPE`` (price scale 1);
* Hyperliquid lists some coins *only* per 1000 (:data:`DEFAULT_K_BASES`: ``kPEPE``, ``kSHIB``,
  …) while OKX and dYdX quote them per single coin (OKX ``PEPE-USDT-SWAP``: price per PEPE, the
  contract size ``ctVal`` is separate). Those plain bases map to the ``k`` name too, with a price
  scale of 1000: OKX ``PEPE-USDT-SWAP`` → ``kPEPE``, ``scale = 1000``. The funding *rate* is a
  unit-free fraction, so the join is exact for funding; prices and base sizes must be rescaled
  (:meth:`SymbolMap.rescale`);
* larger multipliers (``10000``, ``100000``, ``1000000`` prefixes or suffixes, and Binance's
  ``1M`` prefix: ``1000000MOGUSDT``, ``1MBABYDOGEUSDT``) have no Hyperliquid equivalent and are
  **skipped** (``None``); map them only through an override, e.g.
  ``{"binance": {"1000000MOGUSDT": "MOG"}}`` (the scale is then derived: 1e-6).

Scale: ``canonical price = native price × scale(venue, native)`` and
``canonical base size = native base size ÷ scale``; USD amounts and funding rates are unchanged.
It is derived from the native's unit multiplier (``1000``/``k`` → 1000, ``1M`` → 1e6, none → 1)
and the canonical's (``k`` prefix → 1000, else 1): ``scale = canonical_mult / native_mult``.

Overrides ``{venue: {native: canonical}}`` come first; a canonical of ``""`` or ``None`` excludes
the market. Use them for name clashes (two different tokens with one ticker on two venues),
renamed tokens, and the skipped multipliers. Non-Hyperliquid natives are compared upper-case.

The map is pure and cheap: results are cached per venue (bounded).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

__all__ = [
    "DEFAULT_K_BASES",
    "IDENTITY_VENUES",
    "SYMBOL_VENUES",
    "SymbolMap",
]

IDENTITY_VENUES: frozenset[str] = frozenset({"hyperliquid", "sim"})
"""Venues whose native names are the canonical names."""

SYMBOL_VENUES: tuple[str, ...] = ("hyperliquid", "binance", "bybit", "okx", "dydx", "sim")
"""Venues :class:`SymbolMap` knows rules for."""

DEFAULT_K_BASES: frozenset[str] = frozenset({"PEPE", "SHIB", "BONK", "LUNC", "FLOKI", "DOGS", "NEIRO"})
"""Bases Hyperliquid lists only per 1000 coins (``kPEPE`` …), from its mainnet ``meta``
(``tests/fixtures/hyperliquid/metaAndAssetCtxs.mainnet.json``: kPEPE, kSHIB, kBONK,
kLUNC, kFLOKI, kDOGS, kNEIRO). A plain native of one of these bases maps to ``k{BASE}`` with
price scale 1000. Pass ``k_bases`` to :class:`SymbolMap` when Hyperliquid's universe changes."""

_NATIVE_PATTERNS: dict[str, re.Pattern[str]] = {
    "binance": re.compile(r"([A-Z0-9]+)USDT"),
    "bybit": re.compile(r"([A-Z0-9]+)USDT"),
    "okx": re.compile(r"([A-Z0-9]+)-USDT-SWAP"),
    "dydx": re.compile(r"([A-Z0-9]+)-USD"),
}
_NATIVE_FORMATS: dict[str, str] = {
    "binance": "{}USDT",
    "bybit": "{}USDT",
    "okx": "{}-USDT-SWAP",
    "dydx": "{}-USD",
}
# Order in which ``native()`` tries the spellings of a k-canonical's base on each venue.
_K_CANDIDATES: dict[str, tuple[str, ...]] = {
    "binance": ("1000{}", "{}"),
    "bybit": ("1000{}", "{}1000", "{}"),
    "okx": ("{}", "1000{}"),
    "dydx": ("{}", "1000{}"),
}

_K1000_PREFIX = re.compile(r"1000(?=[A-Z])([A-Z0-9]+)")
_K1000_SUFFIX = re.compile(r"([A-Z][A-Z0-9]*?[A-Z])1000")
_BIG_PREFIX = re.compile(r"(1000000|100000|10000|1M)(?=[A-Z])([A-Z0-9]+)")
_BIG_SUFFIX = re.compile(r"([A-Z][A-Z0-9]*?[A-Z])(1000000|100000|10000)")
_K_CANONICAL = re.compile(r"k(?=[A-Z0-9])(.+)")
_BIG_MULT = {"10000": 1e4, "100000": 1e5, "1000000": 1e6, "1M": 1e6}

_CACHE_MAX = 8192


def _base_multiplier(base: str) -> float:
    """Units per quoted "coin" implied by a numeric prefix/suffix of a non-HL base."""
    if m := _BIG_PREFIX.fullmatch(base):
        return _BIG_MULT[m.group(1)]
    if m := _BIG_SUFFIX.fullmatch(base):
        return _BIG_MULT[m.group(2)]
    if _K1000_PREFIX.fullmatch(base) or _K1000_SUFFIX.fullmatch(base):
        return 1000.0
    return 1.0


def _canonical_multiplier(canonical: str) -> float:
    """1000 for a Hyperliquid ``k`` name (``kPEPE``), else 1."""
    return 1000.0 if _K_CANONICAL.fullmatch(canonical) else 1.0


class SymbolMap:
    """Join venue market names to canonical (Hyperliquid) symbols; see the module docstring.

    Args:
        overrides: ``{venue: {native: canonical}}``; a canonical of ``""`` or ``None`` excludes
            that market. Venue names are case-insensitive; non-Hyperliquid natives are matched
            upper-case.
        k_bases: bases the canonical venue lists only per 1000 coins (default
            :data:`DEFAULT_K_BASES`); a plain native of such a base maps to ``k{BASE}``.

    Raises:
        ValueError: an override for an unknown venue.
    """

    __slots__ = ("_overrides", "_k_bases", "_cache", "_registered", "_losers")

    def __init__(
        self,
        overrides: Mapping[str, Mapping[str, str | None]] | None = None,
        *,
        k_bases: Iterable[str] | None = None,
    ) -> None:
        self._overrides: dict[str, dict[str, str | None]] = {}
        for venue, table in (overrides or {}).items():
            v = self._venue(venue)
            self._overrides[v] = {self._norm(v, n): (c or None) for n, c in table.items()}
        self._k_bases = frozenset(b.upper() for b in (DEFAULT_K_BASES if k_bases is None else k_bases))
        self._cache: dict[str, dict[str, str | None]] = {}
        # venue -> canonical -> native, learned from register(); losers: natives shadowed there.
        self._registered: dict[str, dict[str, str]] = {}
        self._losers: dict[str, set[str]] = {}

    # -- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _venue(venue: str) -> str:
        v = venue.strip().lower()
        if v not in SYMBOL_VENUES:
            raise ValueError(f"unknown venue {venue!r}; known: {', '.join(SYMBOL_VENUES)}")
        return v

    @staticmethod
    def _norm(venue: str, native: str) -> str:
        native = native.strip()
        return native if venue in IDENTITY_VENUES else native.upper()

    def _rule(self, venue: str, native: str) -> str | None:
        """Canonical by the venue's rules alone (no overrides, no registry)."""
        if not native:
            return None
        if venue in IDENTITY_VENUES:
            if native.startswith("@") or "/" in native:
                return None
            return native
        m = _NATIVE_PATTERNS[venue].fullmatch(native)
        if m is None:
            return None
        base = m.group(1)
        if _BIG_PREFIX.fullmatch(base) or _BIG_SUFFIX.fullmatch(base):
            return None
        if k := _K1000_PREFIX.fullmatch(base):
            return "k" + k.group(1)
        if k := _K1000_SUFFIX.fullmatch(base):
            return "k" + k.group(1)
        if base in self._k_bases:
            return "k" + base
        return base

    def _lookup(self, venue: str, native: str) -> str | None:
        n = self._norm(venue, native)
        table = self._overrides.get(venue)
        if table is not None and n in table:
            return table[n]
        if n in self._losers.get(venue, ()):
            return None
        return self._rule(venue, n)

    def _native_multiplier(self, venue: str, native: str) -> float:
        if venue in IDENTITY_VENUES:
            return _canonical_multiplier(native)
        m = _NATIVE_PATTERNS[venue].fullmatch(native)
        return _base_multiplier(m.group(1)) if m else 1.0

    # -- public API --------------------------------------------------------------------------

    def canonical(self, venue: str, native: str) -> str | None:
        """The canonical symbol of ``native`` on ``venue``, or ``None`` if it is excluded
        (override to ``""``/``None``), not a USD-stable linear perpetual, dated, or a skipped
        multiplier.

        ``canonical("binance", "1000PEPEUSDT") == "kPEPE"``,
        ``canonical("okx", "PEPE-USDT-SWAP") == "kPEPE"``, ``canonical("okx", "BTC-USDC-SWAP") is None``.

        Raises:
            ValueError: unknown venue.
        """
        v = self._venue(venue)
        cache = self._cache.setdefault(v, {})
        try:
            return cache[native]
        except KeyError:
            pass
        out = self._lookup(v, native)
        if len(cache) >= _CACHE_MAX:
            cache.clear()
        cache[native] = out
        return out

    def resolve(self, venue: str, native: str) -> tuple[str, float] | None:
        """``(canonical, scale)`` for ``native``, or ``None`` when it maps to nothing."""
        c = self.canonical(venue, native)
        if c is None:
            return None
        return c, self.scale(venue, native)

    def scale(self, venue: str, native: str) -> float:
        """Price multiplier from the native unit to the canonical unit.

        ``canonical_price = native_price × scale``; base sizes divide by it. 1000 for OKX
        ``PEPE-USDT-SWAP`` → ``kPEPE``; 1 for Binance ``1000PEPEUSDT`` → ``kPEPE`` and for any
        same-unit pair; 1e-6 for an override ``1000000MOGUSDT`` → ``MOG``.

        Raises:
            ValueError: unknown venue, or ``native`` maps to no canonical symbol.
        """
        v = self._venue(venue)
        c = self.canonical(v, native)
        if c is None:
            raise ValueError(f"{venue} {native!r} maps to no canonical symbol")
        return _canonical_multiplier(c) / self._native_multiplier(v, self._norm(v, native))

    def rescale(
        self, venue: str, native: str, price: float | None = None, size_base: float | None = None
    ) -> tuple[float | None, float | None]:
        """Convert a native price (USD per native unit) and base size to canonical units.

        Returns ``(price × scale, size_base ÷ scale)``, ``None`` passing through. USD amounts
        (``oi_usd``, liquidation ``usd``) and funding rates need no conversion.

        Raises:
            ValueError: as :meth:`scale`.
        """
        s = self.scale(venue, native)
        return (
            None if price is None else price * s,
            None if size_base is None else size_base / s,
        )

    def native(self, venue: str, canonical: str) -> str | None:
        """The venue's name for ``canonical`` (to build subscriptions), or ``None``.

        Looked up in this order: the venue listing given to :meth:`register`; the overrides
        (first native mapped to ``canonical``); then the rule spellings (for a ``k`` canonical:
        Binance ``1000X`` then ``X``; Bybit ``1000X``, ``X1000``, ``X``; OKX and dYdX ``X`` then
        ``1000X``). Whatever is returned satisfies ``canonical(venue, result) == canonical``.
        Without :meth:`register` the result is a guess that the venue may not list.

        Raises:
            ValueError: unknown venue.
        """
        v = self._venue(venue)
        if not canonical:
            return None
        reg = self._registered.get(v)
        if reg is not None and canonical in reg:
            return reg[canonical]
        for n, c in self._overrides.get(v, {}).items():
            if c == canonical:
                return n
        if v in IDENTITY_VENUES:
            candidates: tuple[str, ...] = (canonical,)
        else:
            fmt = _NATIVE_FORMATS[v]
            k = _K_CANONICAL.fullmatch(canonical)
            if k:
                base = k.group(1).upper()
                candidates = tuple(fmt.format(s.format(base)) for s in _K_CANDIDATES[v])
            else:
                candidates = (fmt.format(canonical.upper()),)
        for cand in candidates:
            if self.canonical(v, cand) == canonical:
                return cand
        return None

    def register(self, venue: str, natives: Iterable[str]) -> dict[str, str]:
        """Learn a venue's listing; return ``{native: canonical}`` for the markets that map.

        When several listed natives map to one canonical (say a venue lists both ``DOGSUSDT``
        and ``1000DOGSUSDT``), an override wins, then the preferred spelling (the order of
        :meth:`native`), then the first listed; the others then map to ``None`` until the next
        :meth:`register` of that venue. :meth:`native` returns the registered native.

        Raises:
            ValueError: unknown venue.
        """
        v = self._venue(venue)
        self._losers.pop(v, None)
        self._cache.pop(v, None)
        listed = list(dict.fromkeys(self._norm(v, n) for n in natives if n))
        groups: dict[str, list[str]] = {}
        for n in listed:
            c = self._lookup(v, n)
            if c is not None:
                groups.setdefault(c, []).append(n)
        overridden = self._overrides.get(v, {})
        winners: dict[str, str] = {}
        losers: set[str] = set()
        self._registered.pop(v, None)
        for c, ns in groups.items():
            if len(ns) == 1:
                winners[c] = ns[0]
                continue
            preferred = [n for n in ns if n in overridden]
            if not preferred:
                guess = self.native(v, c)  # registry cleared: override/rule spelling
                preferred = [n for n in ns if n == guess]
            win = preferred[0] if preferred else ns[0]
            winners[c] = win
            losers.update(n for n in ns if n != win)
        self._registered[v] = winners
        self._losers[v] = losers
        self._cache.pop(v, None)
        return {n: c for c, n in winners.items()}

    def to_symbol(self, venue: str) -> Callable[[str], str | None]:
        """A ``native -> canonical | None`` function for one venue (what the adapters accept).

        Raises:
            ValueError: unknown venue (raised now, not at the first call).
        """
        v = self._venue(venue)

        def to_symbol(native: str) -> str | None:
            return self.canonical(v, native)

        return to_symbol
