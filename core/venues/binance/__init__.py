"""Binance USDⓈ-M futures: public market data (:mod:`.market`) and the signed trading client
(:mod:`.futures`). Wire facts: https://developers.binance.com/docs/derivatives/usds-margined-futures
"""
