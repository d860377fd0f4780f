"""Venue adapters: the wire of each venue, parsed into :mod:`pfterm.core.market.models`.

* :mod:`.hyperliquid` — market data, account reads, signing and the exchange endpoint;
* :mod:`.binance` — USDⓈ-M futures market data (:mod:`.binance.market`) and the signed trading
  client (:mod:`.binance.futures`);
* :mod:`.bybit`, :mod:`.okx`, :mod:`.dydx` — read-only funding, open interest and liquidations;
* shared: :mod:`.base` (the adapter contract), :mod:`.errors`, :mod:`.records` (fills and funding
  payments), :mod:`.networks` (mainnet gates by host), :mod:`.reconnect`, :mod:`.wsbase`,
  :mod:`.public_rest`.

May import :mod:`pfterm.core.market`; never trading, harvesting, cross-venue or runtime.
"""
