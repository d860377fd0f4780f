"""dYdX v4 indexer, read-only (:mod:`.market`). Wire facts: https://docs.dydx.exchange/"""
