"""What keeps a key fast in the console: no full collection walking start-up's heap, no
stylesheet parsed again when a dialog first opens, no main screen rendered under a screen on
top, a full-screen detail filled before its first paint (README: "Console under full load")."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from pfterm.core.runtime.heap import GEN0_THRESHOLD, CollectorPauses, settle_heap
from pfterm.tui.app import PftermApp
from pfterm.tui.screens import DetailScreen, HelpScreen, MatrixScreen
from pfterm.tui.trade_screens import QuitScreen
from pfterm.widgets.detail import MarketDetail
from tests.seeded import FrozenMono, seeded_engine
from tests.test_tui import make_app


@pytest.fixture
def collector_restored() -> Iterator[None]:
    """The test process's collector as it was: thresholds back, nothing left frozen."""
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_settle_heap_freezes_survivors_and_raises_the_young_threshold(collector_restored) -> None:
    garbage = _Cycle()
    del garbage  # unreachable, only the cyclic collector frees it
    kept = [_Cycle() for _ in range(10)]
    settled = settle_heap()
    assert settled.collected >= 1
    assert settled.frozen == gc.get_freeze_count() > len(kept)
    assert gc.get_threshold()[0] == GEN0_THRESHOLD
    # what was alive is out of the generations a collection walks
    assert not any(obj is kept[0] for obj in gc.get_objects(generation=2))


def test_collector_pauses_are_timed_per_generation(collector_restored) -> None:
    pauses = CollectorPauses(maxlen=4)
    pauses.install()
    pauses.install()  # idempotent: one callback
    try:
        gc.collect(0)
        gc.collect(2)
    finally:
        pauses.uninstall()
    gens = [gen for _t, gen, _ms in pauses.runs]
    assert gens[-2:] == [0, 2]
    assert all(ms >= 0 for _t, _gen, ms in pauses.runs)
    gc.collect()
    assert len(pauses.runs) == 2  # uninstalled: no more runs recorded
    for _ in range(3):
        pauses._on_gc("start", {"generation": 1})
        pauses._on_gc("stop", {"generation": 1})
    assert len(pauses.runs) == 4  # bounded


@pytest.mark.parametrize("settles", [False, True])
async def test_the_console_settles_its_heap_once_markets_are_listed_only_when_asked(monkeypatch, settles) -> None:
    import pfterm.tui.app as console

    calls: list[int] = []
    monkeypatch.setattr(console, "HEAP_SETTLE_DELAY_S", 0.01)
    monkeypatch.setattr(console, "settle_heap", lambda: calls.append(1))
    mono = FrozenMono()
    engine, _model, settings, endpoint = seeded_engine(mono)
    app = PftermApp(settings, engine=engine, endpoint=endpoint, start_feed=False, mono=mono, settles_heap=settles)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        assert app.table.order  # markets listed
        app.flush()
        await pilot.pause(0.1)
        # an app embedded in another process (a test) leaves the collector alone; the pfterm
        # command's app settles it once
        assert calls == ([1] if settles else [])


async def test_opening_a_dialog_the_first_time_parses_no_stylesheet() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        reparsed: list[int] = []
        real = app.stylesheet.reparse
        app.stylesheet.reparse = lambda: (reparsed.append(1), real())[1]  # type: ignore[method-assign]
        await app.push_screen(QuitScreen(1, 0, "sim", embedded=True))
        await pilot.pause()
        assert isinstance(app.screen, QuitScreen)
        assert reparsed == []


@pytest.mark.parametrize("screen", [HelpScreen([("?", "help", "everywhere")]), DetailScreen(), MatrixScreen()])
async def test_screens_on_top_paint_an_opaque_background(screen) -> None:
    """A translucent background makes Textual render and blend the whole main screen beneath."""
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await app.push_screen(screen)
        await pilot.pause()
        assert app.screen is screen
        assert screen.styles.background.a == 1.0


async def test_the_full_screen_detail_is_filled_when_it_mounts() -> None:
    app = make_app()
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        sym = app.table.selected
        assert sym is not None
        view = app._detail_view(sym, app.engine.clock.now_ms(), app.mono())
        screen = DetailScreen(view)
        await app.push_screen(screen)  # returns once mounted, before any flush of the console
        detail = screen.query_one(MarketDetail)
        assert str(detail.border_title).startswith(f"{sym}  max ")
