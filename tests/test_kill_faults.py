"""``pfterm kill`` behind the fault-injecting proxy, checked against the simulator directly
(:mod:`benchmarks.kill_faults`, a small count of its trials): through 30 % dropped answers,
429s, 500s and resets it ends flat with exit 0 within ``kill_deadline_s``; through a permanent
fault it exits 1 within ``kill_deadline_s + 1 s``; never a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.kill_faults import (
    PERMANENT_FAULTS,
    TRANSIENT_FAULTS,
    FaultCase,
    TrialResult,
    meets_expectation,
    run_trials,
)
from tests.simproc import pfterm_sim

REPO = Path(__file__).resolve().parents[1]

TRANSIENT_TRIALS = 3
PERMANENT_DEADLINE_S = 3.0


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    with pfterm_sim(7, "--speed", "1") as url:
        yield url


def _describe(t: TrialResult) -> str:
    left = "flat" if t.flat else f"left {t.positions_left} positions / {t.orders_left} orders"
    return f"{t.case} #{t.index + 1}: exit {t.exit_code} after {t.seconds:.2f} s, {left}, faults {t.faults}\n{t.output}"


def test_expectations() -> None:
    transient, permanent = FaultCase(("drop",), 0.3, 10.0), FaultCase(("freeze",), 1.0, 3.0)
    assert meets_expectation(transient, 0, 9.9, True, False)
    assert not meets_expectation(transient, 0, 10.1, True, False)  # too slow
    assert not meets_expectation(transient, 0, 1.0, False, False)  # exit 0 but not flat
    assert not meets_expectation(transient, 1, 1.0, True, False)
    assert not meets_expectation(transient, 0, 1.0, True, True)  # a traceback
    assert meets_expectation(permanent, 1, 3.9, False, False)
    assert not meets_expectation(permanent, 1, 4.1, False, False)  # past the deadline + 1 s
    assert not meets_expectation(permanent, None, 3.5, False, False)  # had to be killed
    assert not meets_expectation(permanent, 0, 3.5, False, False)
    assert permanent.name == "freeze permanent" and transient.name == "drop 30%"


async def test_without_faults_the_trial_ends_flat(sim_url: str) -> None:
    """The harness itself: rate 0 through the proxy, the kill flattens and the venue agrees."""
    [result] = await run_trials([FaultCase(("500",), 0.0, 10.0)], 1, sim_url=sim_url, grace_s=5)
    [t] = result.trials
    assert t.requests > 0 and t.faults == {}
    assert t.ok and t.flat and t.exit_code == 0 and t.agrees and not t.traceback, _describe(t)


@pytest.mark.parametrize("fault", TRANSIENT_FAULTS)
async def test_kill_ends_flat_through_transient_faults(sim_url: str, fault: str) -> None:
    case = FaultCase((fault,), 0.3, 10.0)
    [result] = await run_trials([case], TRANSIENT_TRIALS, sim_url=sim_url, seed=3, grace_s=5, stop_on_failure=True)
    assert sum(sum(t.faults.values()) for t in result.trials) > 0, "no fault was injected"
    for t in result.trials:
        assert not t.traceback, _describe(t)
        assert t.exit_code == 0 and t.flat, _describe(t)
        assert t.seconds <= case.deadline_s, _describe(t)
    assert len(result.trials) == TRANSIENT_TRIALS


@pytest.mark.parametrize("fault", PERMANENT_FAULTS)
async def test_kill_gives_up_in_time_on_a_permanent_fault(sim_url: str, fault: str) -> None:
    case = FaultCase((fault,), 1.0, PERMANENT_DEADLINE_S)
    [result] = await run_trials([case], 1, sim_url=sim_url, grace_s=4)
    [t] = result.trials
    assert t.positions_left == 4 and t.orders_left == 4, _describe(t)  # no request got through
    assert not t.traceback, _describe(t)
    assert t.exit_code == 1, _describe(t)
    assert t.seconds <= case.deadline_s + 1.0, _describe(t)
    assert "NOT FLAT" in t.output and "unknown" in t.output, _describe(t)  # it says what it does not know
