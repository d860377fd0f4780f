"""Seeded fuzzing of the venue streams (:mod:`tests.fuzz_frames`): valid frames of every channel
a stream reads interleaved with garbage, replayed over 127.0.0.1 into the real stream classes. No invalid record is
accepted, no valid one is lost, maps stay bounded, and every garbage frame is counted once."""

from __future__ import annotations

import pytest

from tests.fuzz_frames import VENUES, run_venue


@pytest.mark.parametrize("seed", [7, 2026])
@pytest.mark.parametrize("venue", sorted(VENUES))
async def test_garbage_is_counted_and_never_accepted(venue: str, seed: int) -> None:
    result = await run_venue(VENUES[venue](), seed, 1000)
    assert result.garbage > 200
    assert result.invalid_accepted == 0
    assert result.valid_lost == 0
    assert result.counted == result.garbage
    assert result.map_size <= result.map_bound
    assert result.sink_errors == 0
