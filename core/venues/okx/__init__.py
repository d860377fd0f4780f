"""OKX v5 USDT-margined swaps, read-only (:mod:`.market`). Wire facts:
https://www.okx.com/docs-v5/en/
"""
