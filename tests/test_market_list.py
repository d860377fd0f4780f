"""The market list as a trader reads it: a sort that stays live (and can be frozen), a filter
that ranks the exact symbol first and never lets typed keys escape, and honest cells."""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise

from textual import events

from pfterm.core.market.store import MarketStore
from pfterm.core.market.views import market_row
from pfterm.tui.app import PftermApp
from pfterm.tui.screens import TradingScreen
from pfterm.widgets.market_table import COLUMNS, CURSOR_BG, MarketTable, oi_title
from tests.test_tui import make_app, screen_text


def _set_funding(app: PftermApp, symbol: str, funding: float) -> None:
    """A new context for ``symbol`` with hourly ``funding`` (fraction), as the feed would deliver it."""
    ctx = app.engine.store.get(symbol).ctx
    app.engine.on_ctx(replace(ctx, funding=funding))


def _in_view(table: MarketTable) -> bool:
    top = table.scroll_offset.y
    return top <= table.cursor < top + table.size.height - 1


def _cursor_line_highlighted(table: MarketTable) -> bool:
    strip = table.render_line(table.cursor - table.scroll_offset.y + 1)
    return all(seg.style is not None and seg.style.bgcolor == CURSOR_BG.bgcolor for seg in strip)


def _sorted_by_abs_apr(table: MarketTable) -> bool:
    aprs = [abs(table.rows[s].funding_apr) for s in table.order]
    return aprs == sorted(aprs, reverse=True)


async def test_the_order_is_corrected_at_the_next_flush_and_the_cursor_stays_on_its_market() -> None:
    app = make_app(cascade=None)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        table = app.query_one(MarketTable)
        await pilot.press("down", "down", "down")
        chosen = table.selected
        assert chosen == table.order[3]
        riser = table.order[40]
        _set_funding(app, riser, 0.01)  # ≈ 87 600 % APR: now the largest |funding|
        app._tick = 1  # a flush that is not the once-a-second one
        app.flush()
        assert table.order[0] == riser and _sorted_by_abs_apr(table)
        assert table.selected == chosen and table.cursor == table.order.index(chosen) == 4
        # the selected market drops to the bottom: the cursor follows it and keeps it in view
        _set_funding(app, chosen, 0.0)
        app._tick = 1
        app.flush()
        await pilot.pause()
        assert _sorted_by_abs_apr(table)
        assert table.selected == chosen and table.order[table.cursor] == chosen and table.cursor > 100
        assert _in_view(table) and _cursor_line_highlighted(table)


async def test_freeze_keeps_the_order_until_unfrozen_or_the_sort_changes() -> None:
    app = make_app(cascade=None)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        table = app.query_one(MarketTable)
        await pilot.press("f")
        assert table.frozen
        text = screen_text(app)
        assert "APR❄" in text and "APR▼" not in text and "frozen" in text
        before = list(table.order)
        riser = table.order[40]
        _set_funding(app, riser, 0.01)
        app.flush()
        assert table.order == before and table.rows[riser].funding == 0.01  # rows update in place
        await pilot.press("f")
        assert not table.frozen and table.order[0] == riser and "❄" not in screen_text(app)
        await pilot.press("f", "s")
        assert not table.frozen and table.sort_key == "funding"


async def test_filter_enter_selects_the_exact_symbol_and_the_detail_follows() -> None:
    app = make_app(cascade=None)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        table = app.query_one(MarketTable)
        assert {"SOL", "RESOLV"} <= set(table.rows)
        await pilot.press("slash", "s", "o", "l")
        assert table.order[0] == "SOL" and "RESOLV" in table.order
        await pilot.press("enter")
        await pilot.pause()
        assert table.has_focus and table.selected == "SOL" and table.cursor == 0
        assert app.engine.selected == "SOL"


async def test_filter_ranks_exact_then_prefix_then_substring() -> None:
    app = make_app(cascade=None)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("slash", "e", "t", "h")
        table = app.query_one(MarketTable)
        assert table.order == ["ETH", "ETHFI"]
        await pilot.press("backspace", "backspace", "backspace", "m", "e")
        order = table.order
        assert order[0] == "ME"
        prefix = [s for s in order if s != "ME" and s.lower().startswith("me")]
        inner = [s for s in order if not s.lower().startswith("me")]
        assert prefix and inner and order == ["ME", *prefix, *inner]
        for group in (prefix, inner):  # each group in the sort order
            aprs = [abs(table.rows[s].funding_apr) for s in group]
            assert aprs == sorted(aprs, reverse=True)


async def test_escape_brings_the_selected_market_into_view_highlighted() -> None:
    app = make_app(cascade=None)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        table = app.query_one(MarketTable)
        far = table.order[150]  # far below the first screenful
        await pilot.press("slash", *far.lower(), "enter")
        await pilot.pause()
        assert table.selected == far
        await pilot.press("escape")
        await pilot.pause()
        assert len(table.order) == 189 and table.selected == far and table.cursor == 150
        assert table.has_focus and _in_view(table) and _cursor_line_highlighted(table)


async def test_keys_typed_in_one_burst_after_slash_all_go_to_the_filter() -> None:
    app = make_app(cascade=None)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        # as a terminal delivers a fast typist's keys: all queued before the first is handled
        for key in ("slash", "e", "t", "h"):
            event = events.Key(key, "/" if key == "slash" else key)
            event.set_sender(app)
            app._driver.send_message(event)
        await pilot.pause()
        await pilot.pause()
        assert not isinstance(app.screen, TradingScreen)
        assert app.filter_box.value == "eth" and app.query_one(MarketTable).order[0] == "ETH"


async def test_delisted_basis_always_shows_its_unit() -> None:
    app = make_app(cascade=None)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("D")
        table = app.query_one(MarketTable)
        delisted = [r for r in table.rows.values() if r.delisted]
        assert delisted
        basis = next(c for c in COLUMNS if c.key == "basis")
        row = delisted[0]
        for value in (*(r.basis for r in delisted), 8.8881, -0.5, 123.0, -123.0):
            text, _style = basis.cell(replace(row, basis=value), 0)
            assert text.endswith("%") and len(text) <= basis.width, text
        assert basis.cell(replace(row, basis=8.8881), 0)[0] == "+888.8%"


async def test_oi_change_header_states_the_time_it_covers() -> None:
    app = make_app(cascade=None)  # a snapshot, then 8 rounds 30 s apart: 4 minutes of the 60-minute window
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        table = app.query_one(MarketTable)
        spans = {r.oi_span_ms for r in table.rows.values()}
        assert max(spans) == 4 * 60_000
        text = screen_text(app)
        assert "OIΔ4m" in text and "OIΔ60m" not in text


def test_oi_span_grows_to_the_full_window() -> None:
    app = make_app(cascade=None)
    state = app.engine.store.get("BTC")
    ctx = state.ctx
    store = MarketStore(oi_window_ms=3_600_000)
    store.load([state.info], [ctx], 0)
    st = store.get("BTC")
    titles = []
    for minute in range(1, 71):
        store.apply(st, replace(ctx, open_interest=ctx.open_interest * (1 + minute / 1000)), minute * 60_000)
        titles.append(oi_title(market_row(st, minute * 60_000, stale=False).oi_span_ms))
    assert titles[0] == "OIΔ1m" and titles[29] == "OIΔ30m"
    assert set(titles[59:]) == {"OIΔ60m"}  # full, and never more than the window once full
    assert oi_title(0) == "OI Δ" and oi_title(45_000) == "OIΔ45s" and oi_title(4 * 3_600_000 + 5) == "OIΔ4h"


async def test_a_live_reorder_repaints_only_the_lines_that_moved() -> None:
    from textual.geometry import Region

    app = make_app(cascade=None)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        table = app.query_one(MarketTable)
        a, b = table.order[5], table.order[6]
        regions: list[object] = []
        original = table.refresh

        def spy(*args, **kwargs):
            regions.append(args[0] if args else None)
            return original(*args, **kwargs)

        table.refresh = spy  # type: ignore[method-assign]
        above = abs(app.engine.store.get(table.order[4]).ctx.funding)
        below = abs(app.engine.store.get(a).ctx.funding)
        _set_funding(app, b, (above + below) / 2)  # b passes a, not the market above it
        app._tick = 1
        app.flush()
        assert table.order[5] == b and table.order[6] == a
        moved = [r for r in regions if isinstance(r, Region) and r.height == 1 and r.x == 0]
        assert {r.y for r in moved} == {6, 7}  # lines 5 and 6 under the header line
        assert None not in regions  # never the whole table for a swap of neighbours


async def test_fast_venue_time_repaints_the_countdowns_at_most_twice_a_second() -> None:
    app = make_app(cascade=None)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        table = app.query_one(MarketTable)
        wall = {"t": 1000.0}
        table.wall_clock = lambda: wall["t"]
        table._countdown_painted_mono = float("-inf")
        painted: list[object] = []
        original = table.refresh

        def spy(*args, **kwargs):
            painted.append(args[0] if args else None)
            return original(*args, **kwargs)

        table.refresh = spy  # type: ignore[method-assign]
        now = table.now_ms
        for _ in range(8):  # a simulator at ×60: 7.5 s of venue time per flush, 8 flushes a second
            now += 7_500
            wall["t"] += 0.125
            table.set_now(now)
        assert len(painted) == 2  # once at the start, once 0.5 s later
        assert table.now_ms == now  # lines repainted for other reasons still show the latest time
        painted.clear()
        for _ in range(3):  # the wall clock's own pace: every second changes, every one is shown
            now += 1_000
            wall["t"] += 1.0
            table.set_now(now)
        assert len(painted) == 3


async def test_cells_of_one_style_go_out_as_one_run() -> None:
    """Basis, funding and APR of the same sign share one colour code on the wire."""
    app = make_app()
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        table = app.query_one(MarketTable)
        merged = 0
        for line in range(2, 12):  # rows below the cursor's
            sym = table.order[table.scroll_offset.y + line - 1]
            row = table.rows[sym]
            strip = table.render_line(line)
            styles = [seg.style for seg in strip]
            assert all(a != b for a, b in pairwise(styles)), sym  # no two neighbours alike
            if row.basis < 0 and row.funding < 0 and not row.stale:
                text = next(seg.text for seg in strip if "%" in seg.text)
                assert text.count("%") == 3, (sym, text)  # basis, Fund/h and APR in one run
                merged += 1
        assert merged >= 3
