"""Loading of the seed snapshot the simulator starts from.

The seed is a real Hyperliquid ``metaAndAssetCtxs`` response, shipped as package data
(``core/sim/data/metaAndAssetCtxs.mainnet.json``, provenance in ``core/sim/data/README.md``).
Its shape is ``[meta, ctxs]`` with ``meta = {"universe": [...], "marginTables": [...],
"collateralToken": int}`` and ``ctxs[i]`` the context of ``meta["universe"][i]``; every ctx
number is a decimal string (see docs/venues.md, Hyperliquid ``metaAndAssetCtxs``).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

SNAPSHOT_FILE = "metaAndAssetCtxs.mainnet.json"
"""File name of the packaged seed snapshot inside ``pfterm.core.sim`` / ``data``."""

Snapshot = list[Any]
"""A ``metaAndAssetCtxs`` response: ``[meta: dict, ctxs: list[dict]]``."""


class SnapshotError(ValueError):
    """The seed snapshot does not have the ``[meta, ctxs]`` shape the simulator needs."""


def snapshot_bytes(path: str | Path | None = None) -> bytes:
    """Raw bytes of a snapshot file: ``path`` if given, else the packaged seed snapshot."""
    if path is not None:
        return Path(path).read_bytes()
    return resources.files("pfterm.core.sim").joinpath("data", SNAPSHOT_FILE).read_bytes()


def validate_snapshot(snapshot: Any) -> Snapshot:
    """Check the ``[meta, ctxs]`` shape and return ``snapshot`` unchanged.

    Raises :class:`SnapshotError` when the outer list, ``meta.universe`` or ``ctxs`` are
    missing, when their lengths differ, or when a universe entry has no ``name``.
    """
    if not isinstance(snapshot, list) or len(snapshot) != 2:
        raise SnapshotError("snapshot must be a two-element list [meta, ctxs]")
    meta, ctxs = snapshot
    if not isinstance(meta, dict) or not isinstance(meta.get("universe"), list):
        raise SnapshotError("snapshot meta must be an object with a 'universe' list")
    if not isinstance(ctxs, list):
        raise SnapshotError("snapshot ctxs must be a list")
    if len(meta["universe"]) != len(ctxs):
        raise SnapshotError(f"universe has {len(meta['universe'])} assets but there are {len(ctxs)} ctxs")
    for i, asset in enumerate(meta["universe"]):
        if not isinstance(asset, dict) or not isinstance(asset.get("name"), str):
            raise SnapshotError(f"universe entry {i} has no name")
    return snapshot


def load_snapshot(path: str | Path | None = None) -> Snapshot:
    """Parse and validate a snapshot: ``path`` if given, else the packaged seed snapshot.

    Returns a fresh ``[meta, ctxs]`` structure each call, so callers may keep it.
    """
    return validate_snapshot(json.loads(snapshot_bytes(path)))
