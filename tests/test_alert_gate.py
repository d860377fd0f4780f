"""The alert gate: repeats of a (market, kind) held back in venue time, a cap on toasts per wall
minute with a "+N more" summary, the bell only for the chosen kinds."""

from __future__ import annotations

from collections import deque

from hypothesis import given, settings
from hypothesis import strategies as st

from pfterm.core.market.alert_gate import CAP_WINDOW_S, AlertGate, collapse_repeats
from pfterm.core.market.models import Alert, AlertKind
from pfterm.core.runtime.config import AlertsSection

T0 = 1_767_225_600_000  # venue ms


def alert(symbol: str = "ETH", kind: AlertKind = AlertKind.CASCADE, at_s: float = 0.0) -> Alert:
    return Alert(kind, symbol, T0 + round(at_s * 1000), f"{symbol} {kind.value}")


def test_a_repeat_inside_its_window_is_counted_not_raised() -> None:
    gate = AlertGate(repeat_after_s=300, toasts_per_min=100)
    first = gate.admit(alert(at_s=0), mono=0.0)
    assert (first.toast, first.bell, first.repeat) == (True, True, 1)
    for i in range(2, 6):
        v = gate.admit(alert(at_s=10 * i), mono=0.0)
        assert (v.toast, v.bell, v.repeat) == (False, False, i)
    # another market or another kind is news
    assert gate.admit(alert("BTC", at_s=50), mono=0.0).toast
    assert gate.admit(alert(kind=AlertKind.FUNDING_FLIP, at_s=50), mono=0.0).toast
    # the window is venue time from the run's first alert: 300 venue s later it is raised again
    assert not gate.admit(alert(at_s=299.999), mono=0.0).toast
    assert gate.admit(alert(at_s=300), mono=0.0).toast


def test_the_repeat_window_is_venue_time_not_wall_time() -> None:
    """×60: 300 venue seconds pass in 5 wall seconds, and the repeat is news again."""
    gate = AlertGate(repeat_after_s=300, toasts_per_min=100)
    assert gate.admit(alert(at_s=0), mono=0.0).toast
    assert not gate.admit(alert(at_s=60), mono=1.0).toast
    assert gate.admit(alert(at_s=300), mono=5.0).toast
    # and wall time alone does not end a run
    assert not gate.admit(alert(at_s=310), mono=10_000.0).toast


def test_the_cap_holds_toasts_back_and_the_next_one_says_how_many() -> None:
    gate = AlertGate(repeat_after_s=300, toasts_per_min=3)
    verdicts = [gate.admit(alert(f"C{i}"), mono=float(i)) for i in range(7)]
    assert [v.toast for v in verdicts] == [True] * 3 + [False] * 4
    assert gate.held == 4
    assert gate.take_held(mono=59.0) == 0  # no slot yet: the first toast was at 0
    v = gate.admit(alert("LATE"), mono=60.0)
    assert (v.toast, v.held) == (True, 4)
    assert gate.held == 0


def test_held_alerts_are_summarised_once_a_slot_frees_even_without_another_alert() -> None:
    gate = AlertGate(repeat_after_s=300, toasts_per_min=1)
    assert gate.admit(alert("A"), mono=0.0).toast
    assert not gate.admit(alert("B"), mono=1.0).toast
    assert not gate.admit(alert("C"), mono=2.0).toast
    assert gate.take_held(mono=30.0) == 0
    assert gate.take_held(mono=60.0) == 2
    assert gate.take_held(mono=61.0) == 0  # said once
    assert not gate.admit(alert("D"), mono=62.0).toast  # the summary took the minute's slot


def test_the_bell_rings_only_for_the_chosen_kinds_and_never_with_the_master_switch_off() -> None:
    gate = AlertGate(bell_kinds=[AlertKind.CASCADE], toasts_per_min=100)
    assert gate.admit(alert(kind=AlertKind.CASCADE), 0.0).bell
    flip = gate.admit(alert(kind=AlertKind.FUNDING_FLIP), 0.0)
    assert flip.toast and not flip.bell
    quiet = AlertGate(bell=False, bell_kinds=list(AlertKind), toasts_per_min=100)
    v = quiet.admit(alert(), 0.0)
    assert v.toast and not v.bell


def test_the_settings_build_the_gate_and_refuse_an_unknown_kind() -> None:
    section = AlertsSection(bell_kinds=["cascade", "funding flip"], repeat_after_s=60, toasts_per_min=2)
    gate = section.alert_gate()
    assert gate.bell_kinds == {AlertKind.CASCADE, AlertKind.FUNDING_FLIP}
    assert gate.runs.window_ms == 60_000 and gate.toasts_per_min == 2
    try:
        AlertsSection(bell_kinds=["cascades"])
    except ValueError as exc:
        assert "not an alert kind" in str(exc)
    else:
        raise AssertionError("an unknown kind is refused")


def test_collapse_repeats_gives_one_line_per_raised_alert_newest_first() -> None:
    raised = [alert("ETH", at_s=0), alert("BTC", at_s=5), alert("ETH", at_s=10), alert("ETH", at_s=20)]
    raised += [alert("ETH", at_s=400)]  # a new run: raised again
    newest_first = list(reversed(raised))
    lines = collapse_repeats(newest_first, repeat_after_s=300)
    assert [(a.symbol, a.time_ms - T0, n) for a, n in lines] == [
        ("ETH", 400_000, 1),
        ("ETH", 20_000, 3),
        ("BTC", 5_000, 1),
    ]
    assert collapse_repeats(newest_first, repeat_after_s=0) == [(a, 1) for a in newest_first]


# ---------------------------------------------------------------------------- properties

SYMBOLS = st.sampled_from(["BTC", "ETH", "SOL"])
KINDS = st.sampled_from(list(AlertKind))
# (market, kind, venue seconds since the previous alert, wall seconds since the previous alert)
STREAMS = st.lists(
    st.tuples(SYMBOLS, KINDS, st.floats(0, 120, allow_nan=False), st.floats(0, 20, allow_nan=False)), max_size=80
)


@settings(max_examples=200, deadline=None)
@given(STREAMS, st.integers(1, 8), st.floats(0, 600, allow_nan=False), st.booleans())
def test_never_more_toasts_than_the_cap_in_any_window_and_no_repeat_inside_its_window(
    stream, cap: int, repeat_after_s: float, summarise: bool
) -> None:
    gate = AlertGate(repeat_after_s=repeat_after_s, toasts_per_min=cap, bell_kinds=list(AlertKind))
    window_ms = round(repeat_after_s * 1000)
    venue_ms, mono = T0, 0.0
    toasts: list[float] = []
    opened: dict[tuple[str, AlertKind], int] = {}
    alerts: deque[Alert] = deque()
    held = admitted = 0
    for symbol, kind, dv, dw in stream:
        venue_ms += round(dv * 1000)
        mono += dw
        a = Alert(kind, symbol, venue_ms, "")
        alerts.appendleft(a)
        v = gate.admit(a, mono)
        key = (symbol, kind)
        if key in opened and venue_ms - opened[key] < window_ms:
            assert v.repeat > 1 and not v.toast and not v.bell  # a repeat never passes inside its window
        else:
            assert v.repeat == 1
            opened[key] = venue_ms
        assert v.bell == v.toast
        if v.toast:
            toasts.append(mono)
            admitted += 1
            held += v.held
        if summarise and (n := gate.take_held(mono)):
            toasts.append(mono)
            held += n
        # never more than the cap in any window of CAP_WINDOW_S wall seconds
        assert sum(1 for t in toasts if mono - t < CAP_WINDOW_S) <= cap
    # every alert is accounted for: each run's first is toasted or held (then summarised or still
    # held), and the Alerts panel shows one line per run carrying all its alerts
    lines = collapse_repeats(list(alerts), repeat_after_s)
    assert len(lines) == sum(1 for _, _, _, _ in stream) - sum(n - 1 for _, n in lines)
    assert len(lines) == admitted + held + gate.held
    assert sum(n for _, n in lines) == len(alerts)
