"""Bybit v5 linear perpetuals, read-only (:mod:`.market`). Wire facts:
https://bybit-exchange.github.io/docs/v5/intro
"""
