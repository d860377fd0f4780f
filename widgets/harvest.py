"""The Harvester panel: state, positions and the latest decisions of the funding harvester."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from pfterm.core.harvest.harvester import HarvesterView
from pfterm.widgets.numbers import fmt_money, fmt_size
from pfterm.widgets.trading import NEG, POS

STATUS_STYLE = {
    "running": "bold black on #4ec98b",
    "stopped": "bold black on #7d8590",
    "halted": "bold white on #c62828",
}
ACTION_STYLE = {
    "enter": "#4ec98b",
    "exit": "#ffd166",
    "reduce": "#ffd166",
    "rebalance": "#7aa2f7",
    "halt": "bold #f0625c",
    "error": "bold #f0625c",
    "skip": "dim",
}


def _hhmm(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%H:%M")


class HarvesterPanel(Static):
    """Renders a :class:`~pfterm.core.harvest.harvester.HarvesterView`; ``None`` shows how to start it (``H``)."""

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._last: HarvesterView | None | bool = False

    def show(self, view: HarvesterView | None) -> None:
        """Render ``view``; an unchanged view does nothing."""
        if view == self._last:
            return
        self._last = view
        if view is None:
            self.update(Text("harvester off — H starts it on this account", style="dim"))
            return
        head = Text(no_wrap=True, overflow="ellipsis")
        head.append(f" {view.status.upper()} ", style=STATUS_STYLE.get(view.status, "bold"))
        head.append(f"  {view.profile}  funding ", style="dim")
        head.append(fmt_money(view.funding_usd, signed=True), style=POS if view.funding_usd >= 0 else NEG)
        head.append(f"  #{view.cycles}", style="dim")
        if view.last_cycle_ms:
            head.append(f" {_hhmm(view.last_cycle_ms)}", style="dim")
        parts: list[Text | Table] = [head]
        if view.error:
            parts.append(Text(view.error, style="#f0625c", overflow="ellipsis", no_wrap=True))
        if view.positions:
            grid = Table.grid(padding=(0, 1))
            for justify in ("left", "left", "right", "right", "right"):
                grid.add_column(justify=justify, no_wrap=True)
            for sym, label, size, usd, apr in view.positions:
                grid.add_row(
                    Text(sym, style="bold"),
                    Text(label, style="dim"),
                    fmt_size(size),
                    fmt_money(usd, 0),
                    Text(f"{apr * 100:+.0f}% in", style="dim"),
                )
            parts.append(grid)
        else:
            parts.append(Text("no harvest positions", style="dim"))
        if view.targets:
            t = Text("targets: ", style="dim")
            t.append(", ".join(f"{sym} +{fmt_money(usd, 0)}" for sym, usd in view.targets[:4]))
            parts.append(t)
        for d in view.decisions[-6:][::-1]:
            line = Text(no_wrap=True, overflow="ellipsis")
            line.append(_hhmm(d.time_ms) + " ", style="dim")
            line.append(f"{d.action} ", style=ACTION_STYLE.get(d.action, ""))
            line.append(f"{d.symbol}: {d.reason}")
            parts.append(line)
        self.update(Group(*parts))
