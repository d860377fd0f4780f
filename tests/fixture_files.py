"""Where the tests' exchange payloads live: ``tests/fixtures/<venue>/`` (``hyperliquid``, ``binance``,
``bybit``, ``okx``, ``dydx``), inside the repository. Each file's provenance (real capture, docs
example or synthetic; source and date) is in ``tests/fixtures/README.md``. The files are required:
a missing one fails the test that reads it."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"
"""The fixture root; ``FIXTURES / "hyperliquid" / "metaAndAssetCtxs.mainnet.json"`` and so on."""
