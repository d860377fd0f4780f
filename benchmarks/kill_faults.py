"""Kill-switch fault trials: ``pfterm kill`` behind a fault-injecting proxy, checked against the venue.

For each fault case (a fault kind at a rate, e.g. ``drop`` on 30 % of requests, or a permanent
``500`` / ``freeze`` at rate 1.0) the trials repeat, ``trials`` times:

1. open a book of ``positions`` positions (one per market, the most liquid markets, alternating
   long/short) and ``orders`` resting GTC orders 15-25 % away from mid on a ``pfterm sim``
   process, directly (no proxy: setup never fails), with a fresh account key per trial;
2. start a :class:`pfterm.core.sim.fault_proxy.FaultProxy` in front of the simulator (seeded per trial);
3. run ``python -m pfterm.tui.cli kill --url hyperliquid=<proxy> --config <kill_deadline_s>`` as a
   subprocess with ``PFTERM_HL_PRIVATE_KEY`` set and ``HOME`` / ``XDG_*`` in a temporary directory
   (journal and logs land there; no other ``PFTERM_*`` variable is passed on), timing its wall
   time from spawn to exit (what a shell user waits), and capturing stdout/stderr;
4. read the account from the simulator directly and record whether it is flat (no position,
   no open order).

Expected outcome: a transient case ends flat with exit 0 within ``kill_deadline_s``; a permanent
case exits 1 within ``kill_deadline_s + 1 s`` and says what is left; no run prints a traceback;
the exit status always agrees with the venue (exit 0 ⇔ flat).

Programmatic use (one simulator for all cases, or ``sim_url`` of a running one)::

    from benchmarks.kill_faults import run_trials, standard_cases
    results = asyncio.run(run_trials(standard_cases(rate=0.3), trials=5))
    print(format_table(results))

Command line: ``python -m benchmarks.kill_faults --trials 100 --rate 0.3`` (also reached through
``python benchmarks/kill.py --faults``) prints progress to stderr, then a table and a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pfterm.core.market.models import OrderIntent
from pfterm.core.sim.__main__ import child_command
from pfterm.core.sim.fault_proxy import FaultProxy
from pfterm.core.venues.hyperliquid.exchange import HyperliquidExchange
from pfterm.core.venues.hyperliquid.orders import Cloid, market_price, round_price, round_size
from pfterm.core.venues.hyperliquid.signing import Signer

REPO = Path(__file__).resolve().parents[1]

TRANSIENT_FAULTS = ("drop", "429", "500", "reset")
"""Fault kinds tried at a fractional rate: the kill must still end flat with exit 0."""

PERMANENT_FAULTS = ("500", "freeze")
"""Fault kinds tried at rate 1.0: the kill must give up with exit 1 within the deadline + 1 s."""

PERMANENT_SLACK_S = 1.0
"""How far past ``kill_deadline_s`` a permanent-fault run may exit, seconds."""


class SetupError(RuntimeError):
    """The simulator could not be started or the book could not be opened (not a kill failure)."""


@dataclass(frozen=True, slots=True)
class FaultCase:
    """One fault setting: ``faults`` drawn on a fraction ``rate`` (0..1) of the venue's REST
    requests, with ``kill_deadline_s`` (seconds) written to the kill's config file.
    ``rate >= 1`` is a permanent fault."""

    faults: tuple[str, ...]
    rate: float
    deadline_s: float = 10.0

    @property
    def permanent(self) -> bool:
        """True when every request is faulted (the kill cannot succeed and must give up)."""
        return self.rate >= 1.0

    @property
    def name(self) -> str:
        """Short label, e.g. ``"drop 30%"`` or ``"freeze permanent"``."""
        kinds = "+".join(self.faults)
        return f"{kinds} permanent" if self.permanent else f"{kinds} {self.rate:.0%}"

    @property
    def limit_s(self) -> float:
        """Longest acceptable wall time of one run, seconds: the deadline (+ 1 s when permanent)."""
        return self.deadline_s + (PERMANENT_SLACK_S if self.permanent else 0.0)


def standard_cases(
    rate: float = 0.3, deadline_s: float = 10.0, permanent_deadline_s: float | None = None
) -> list[FaultCase]:
    """``drop``, ``429``, ``500``, ``reset`` at ``rate`` with ``deadline_s`` (seconds), then permanent
    ``500`` and ``freeze`` (rate 1.0) with ``permanent_deadline_s`` (default: ``deadline_s``)."""
    permanent = deadline_s if permanent_deadline_s is None else permanent_deadline_s
    cases = [FaultCase((kind,), rate, deadline_s) for kind in TRANSIENT_FAULTS]
    cases += [FaultCase((kind,), 1.0, permanent) for kind in PERMANENT_FAULTS]
    return cases


@dataclass(slots=True)
class TrialResult:
    """One ``pfterm kill`` run.

    * ``exit_code``: the process's status, ``None`` when it had to be killed (``timed_out``);
    * ``seconds``: wall time from spawn to exit, seconds;
    * ``flat``: the venue (read directly) has no position and no open order afterwards;
      ``positions_left`` / ``orders_left`` count what is left;
    * ``traceback``: stdout or stderr contains a Python traceback;
    * ``agrees``: the exit status matches the venue (exit 0 ⇔ flat);
    * ``ok``: the run meets the case's expectation (see :func:`meets_expectation`);
    * ``requests`` / ``faults``: what the proxy saw and injected;
    * ``output``: the last lines of stdout then stderr.
    """

    case: str
    index: int
    exit_code: int | None
    seconds: float
    timed_out: bool
    flat: bool
    positions_left: int
    orders_left: int
    traceback: bool
    agrees: bool
    ok: bool
    requests: int
    faults: dict[str, int]
    output: str


@dataclass(slots=True)
class CaseResult:
    """The trials of one :class:`FaultCase` and their summary (see :meth:`summary`)."""

    case: FaultCase
    trials: list[TrialResult] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """``runs``, ``ok`` (met the expectation), ``flat_exit0``, ``exit1``, ``other_exits``
        (status → count, ``"killed"`` for runs cut at the hard timeout), ``max_s`` / ``p50_s``
        (seconds), ``tracebacks``, ``disagreements``, ``over_limit`` (slower than the deadline,
        + 1 s when permanent), ``faults_injected``, ``requests``."""
        ts = self.trials
        secs = [t.seconds for t in ts]
        others = Counter("killed" if t.exit_code is None else str(t.exit_code) for t in ts if t.exit_code not in (0, 1))
        return {
            "case": self.case.name,
            "faults": list(self.case.faults),
            "rate": self.case.rate,
            "kill_deadline_s": self.case.deadline_s,
            "runs": len(ts),
            "ok": sum(t.ok for t in ts),
            "flat_exit0": sum(t.flat and t.exit_code == 0 for t in ts),
            "exit1": sum(t.exit_code == 1 for t in ts),
            "other_exits": dict(others),
            "max_s": round(max(secs), 2) if secs else None,
            "p50_s": round(statistics.median(secs), 2) if secs else None,
            "tracebacks": sum(t.traceback for t in ts),
            "disagreements": sum(not t.agrees for t in ts),
            "over_limit": sum(t.seconds > self.case.limit_s for t in ts),
            "faults_injected": sum(sum(t.faults.values()) for t in ts),
            "requests": sum(t.requests for t in ts),
        }


def meets_expectation(case: FaultCase, exit_code: int | None, seconds: float, flat: bool, traceback: bool) -> bool:
    """Transient case: exit 0, flat, within the deadline. Permanent case: exit 1, not flat
    (the venue cannot have been flattened), within the deadline + 1 s. Never a traceback."""
    if traceback or seconds > case.limit_s:
        return False
    if case.permanent:
        return exit_code == 1 and not flat
    return exit_code == 0 and flat


# ---------------------------------------------------------------------- simulator and book


class Simulator:
    """A ``python -m pfterm.core.sim`` process on 127.0.0.1 (speed 1, no cascades, seed ``seed``).

    Use ``async with Simulator() as sim`` then ``sim.url``. It exits when its stdin closes.

    :raises SetupError: the simulator did not announce its URL within 30 s.
    """

    def __init__(self, seed: int = 7) -> None:
        self.seed = seed
        self.url = ""
        self._proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Simulator:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PFTERM_")}
        self._proc = await asyncio.create_subprocess_exec(
            *child_command(self.seed, "--speed", "1", "--cascade-rate", "0"),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            cwd=REPO,
            env=env,
        )
        assert self._proc.stdout is not None
        try:
            line = await asyncio.wait_for(self._proc.stdout.readline(), 30)
            self.url = json.loads(line)["listening"]
        except (TimeoutError, ValueError, KeyError) as exc:
            await self.__aexit__()
            raise SetupError(f"simulator did not start: {type(exc).__name__}") from None
        return self

    async def __aexit__(self, *_exc: object) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        self._proc = None


async def open_book(url: str, key: str, positions: int = 4, orders: int = 4, usd: float = 1_500.0) -> list[str]:
    """Open ``positions`` positions of ``usd`` notional each (IOC, alternating long/short, the most
    liquid markets) and ``orders`` resting GTC buys of 300 USD 15-25 % under mid, for ``key``'s
    account on the venue at ``url``. Returns the symbols used.

    :raises SetupError: an order was rejected or the book does not read back as opened.
    """
    if positions < 1 or orders < 0:
        raise ValueError("positions must be >= 1 and orders >= 0")
    async with HyperliquidExchange(url, Signer(key), is_mainnet=True) as ex:
        infos, ctxs = await ex.info.meta_and_asset_ctxs()
        markets = {m.symbol: m for m in infos}
        liquid = sorted(
            (c for c in ctxs if c is not None and not markets[c.symbol].delisted), key=lambda c: -c.day_ntl_vlm
        )
        chosen = liquid[:positions]
        if len(chosen) < positions:
            raise SetupError(f"only {len(chosen)} markets to open {positions} positions on")

        def intent(sym: str, is_buy: bool, size: float, px: float, tif: str) -> OrderIntent:
            m = markets[sym]
            return OrderIntent(
                symbol=sym,
                asset_id=m.asset_id,
                is_buy=is_buy,
                size=size,
                limit_px=px,
                tif=tif,
                reduce_only=False,
                cloid=str(Cloid.new()),
                purpose="fault-trials",
            )

        opens, rests = [], []
        for i, ctx in enumerate(chosen):
            szd = markets[ctx.symbol].sz_decimals
            mid = ctx.mid_px or ctx.mark_px
            is_buy = i % 2 == 0
            px = market_price(mid, is_buy, 0.02, sz_decimals=szd)
            opens.append(intent(ctx.symbol, is_buy, round_size(usd / mid, szd), px, "Ioc"))
        for k in range(orders):
            ctx = chosen[k % len(chosen)]
            szd = markets[ctx.symbol].sz_decimals
            px = round_price((ctx.mid_px or ctx.mark_px) * (0.85 - 0.05 * ((k // len(chosen)) % 3)), szd)
            rests.append(intent(ctx.symbol, True, round_size(300.0 / px, szd), px, "Gtc"))
        for batch in (opens, rests):
            if batch:
                bad = [r.error for r in await ex.place(batch, markets) if r.status not in ("filled", "resting")]
                if bad:
                    raise SetupError(f"book not opened: {bad[:3]}")
        npos, nord = await book_left(ex)
        if npos != positions or nord != orders:
            raise SetupError(f"book reads back as {npos} positions / {nord} orders, wanted {positions} / {orders}")
        return [c.symbol for c in chosen]


async def book_left(ex: HyperliquidExchange) -> tuple[int, int]:
    """``(open positions, open orders)`` of ``ex``'s account, read from the venue."""
    state = await ex.account_state()
    return len([p for p in state.positions if p.size != 0]), len(await ex.open_orders())


async def _venue_book_left(url: str, key: str) -> tuple[int, int]:
    async with HyperliquidExchange(url, Signer(key), is_mainnet=True) as ex:
        return await book_left(ex)


# ---------------------------------------------------------------------- one trial


def _kill_env(key: str, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PFTERM_", "XDG_"))}
    env.update(
        PFTERM_HL_PRIVATE_KEY=key,
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_STATE_HOME=str(home / ".local" / "state"),
        XDG_CACHE_HOME=str(home / ".cache"),
    )
    return env


def _tail(text: str, lines: int = 12) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


async def run_trial(
    case: FaultCase,
    index: int,
    sim_url: str,
    workdir: Path,
    *,
    seed: int = 1,
    positions: int = 4,
    orders: int = 4,
    grace_s: float = 10.0,
) -> TrialResult:
    """One kill run of ``case`` (see the module docstring); ``workdir`` receives the run's home.

    The kill process is killed if still running ``case.limit_s + grace_s`` seconds after spawn
    (``exit_code`` then ``None``). The proxy's fault decisions are seeded by ``seed`` and ``index``
    only, so trial ``index`` meets the same pattern of faulted requests in every case (paired
    comparison across fault kinds), as long as the kill sends its requests in the same order.

    :raises SetupError: the book could not be opened.
    """
    key = "0x" + secrets.token_hex(32)
    await open_book(sim_url, key, positions, orders)
    home = workdir / f"{case.name.replace(' ', '-').replace('%', 'pct')}-{index}"
    home.mkdir(parents=True)
    config = home / "config.toml"
    config.write_text(f"[trading]\nkill_deadline_s = {case.deadline_s!r}\n")
    proxy = FaultProxy(sim_url, case.faults, case.rate, seed=seed * 100_003 + index)
    proxy_url = await proxy.start()
    timed_out = False
    try:
        t0 = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "pfterm.tui.cli",
            "kill",
            "--config",
            str(config),
            "--url",
            f"hyperliquid={proxy_url}",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=REPO,
            env=_kill_env(key, home),
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), case.limit_s + grace_s)
        except TimeoutError:
            timed_out = True
            proc.kill()
            out, err = await proc.communicate()
        seconds = time.perf_counter() - t0
    finally:
        await proxy.stop()
    exit_code = None if timed_out else proc.returncode
    stdout, stderr = out.decode(errors="replace"), err.decode(errors="replace")
    npos, nord = await _venue_book_left(sim_url, key)
    flat = npos == 0 and nord == 0
    tb = "Traceback (most recent call last)" in stdout + stderr
    return TrialResult(
        case=case.name,
        index=index,
        exit_code=exit_code,
        seconds=round(seconds, 3),
        timed_out=timed_out,
        flat=flat,
        positions_left=npos,
        orders_left=nord,
        traceback=tb,
        agrees=exit_code is not None and (exit_code == 0) == flat,
        ok=meets_expectation(case, exit_code, seconds, flat, tb),
        requests=proxy.requests,
        faults=dict(proxy.faults),
        output=(_tail(stdout) + ("\n--- stderr\n" + _tail(stderr) if stderr.strip() else "")).strip(),
    )


async def run_trials(
    cases: Sequence[FaultCase],
    trials: int,
    *,
    sim_url: str | None = None,
    seed: int = 1,
    positions: int = 4,
    orders: int = 4,
    grace_s: float = 10.0,
    stop_on_failure: bool = False,
    progress: Callable[[TrialResult], None] | None = None,
) -> list[CaseResult]:
    """Run ``trials`` kill runs per case, one after the other; returns one :class:`CaseResult` per case.

    :param sim_url: a running simulator (``--speed 1 --cascade-rate 0``) to reuse; by default one
        is started for the call and stopped at the end.
    :param seed: base seed of the proxies' fault decisions.
    :param positions: positions in each trial's book (one per market); ``orders``: resting orders.
    :param grace_s: how long past the case's limit a kill process may run before it is killed, seconds.
    :param stop_on_failure: skip a case's remaining trials after its first miss (fast failing).
    :param progress: called with each :class:`TrialResult` as it completes.
    :raises SetupError: the simulator did not start or a book could not be opened.
    """
    if trials < 1:
        raise ValueError("trials must be >= 1")
    if sim_url is None:
        async with Simulator() as sim:
            return await run_trials(
                cases,
                trials,
                sim_url=sim.url,
                seed=seed,
                positions=positions,
                orders=orders,
                grace_s=grace_s,
                stop_on_failure=stop_on_failure,
                progress=progress,
            )
    results: list[CaseResult] = []
    with tempfile.TemporaryDirectory(prefix="pfterm-kill-faults-") as tmp:
        for case in cases:
            result = CaseResult(case)
            results.append(result)
            for i in range(trials):
                trial = await run_trial(
                    case, i, sim_url, Path(tmp), seed=seed, positions=positions, orders=orders, grace_s=grace_s
                )
                result.trials.append(trial)
                if progress is not None:
                    progress(trial)
                if stop_on_failure and not trial.ok:
                    break
    return results


# ---------------------------------------------------------------------- report


_COLUMNS = (
    ("case", "fault"),
    ("kill_deadline_s", "deadline s"),
    ("runs", "runs"),
    ("ok", "ok"),
    ("flat_exit0", "flat+exit0"),
    ("exit1", "exit1"),
    ("other_exits", "other exits"),
    ("max_s", "max s"),
    ("p50_s", "p50 s"),
    ("over_limit", "over limit"),
    ("tracebacks", "tracebacks"),
    ("disagreements", "disagree"),
    ("faults_injected", "faults"),
    ("requests", "requests"),
)


def format_table(results: Sequence[CaseResult]) -> str:
    """A plain-text table, one row per case (columns of :meth:`CaseResult.summary`)."""
    rows = [[h for _, h in _COLUMNS]]
    for r in results:
        s = r.summary()
        cells = []
        for key, _ in _COLUMNS:
            v = s[key]
            if isinstance(v, dict):
                v = ", ".join(f"{k}:{n}" for k, n in v.items()) or "-"
            if isinstance(v, float):
                v = f"{v:.2f}" if key in ("max_s", "p50_s") else f"{v:g}"
            cells.append(str(v))
        rows.append(cells)
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    lines = [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        for row in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def report(results: Sequence[CaseResult], failures_shown: int = 2) -> dict[str, Any]:
    """JSON-able report: per case its summary and the first ``failures_shown`` missed runs in full."""
    return {
        "cases": [
            {**r.summary(), "missed": [asdict(t) for t in r.trials if not t.ok][:failures_shown]} for r in results
        ]
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the standard fault cases and print a table then a JSON report; exit 0 when every run met
    its expectation, 1 otherwise."""
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.kill_faults",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--trials", type=int, default=100, help="runs per fault case (default 100)")
    ap.add_argument("--rate", type=float, default=0.3, help="fraction of requests faulted in transient cases")
    ap.add_argument("--deadline", type=float, default=10.0, help="kill_deadline_s of the transient cases, seconds")
    ap.add_argument(
        "--permanent-deadline",
        type=float,
        default=None,
        help="kill_deadline_s of the permanent cases, seconds (default: --deadline)",
    )
    ap.add_argument("--positions", type=int, default=4)
    ap.add_argument("--orders", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1, help="base seed of the proxies' fault decisions")
    ap.add_argument("--grace", type=float, default=20.0, help="kill a run this long past its limit, seconds")
    ap.add_argument("--only", action="append", metavar="FAULT", help="run only cases of these fault kinds")
    a = ap.parse_args(argv)
    cases = standard_cases(a.rate, a.deadline, a.permanent_deadline)
    if a.only:
        cases = [c for c in cases if set(c.faults) & set(a.only)]

    def show(t: TrialResult) -> None:
        verdict = "ok" if t.ok else "MISS"
        print(
            f"{t.case} #{t.index + 1}: exit {t.exit_code} in {t.seconds:.2f} s, "
            f"{'flat' if t.flat else f'left {t.positions_left} pos / {t.orders_left} orders'}, "
            f"faults {sum(t.faults.values())}/{t.requests}{', TRACEBACK' if t.traceback else ''} [{verdict}]",
            file=sys.stderr,
            flush=True,
        )

    results = asyncio.run(
        run_trials(cases, a.trials, seed=a.seed, positions=a.positions, orders=a.orders, grace_s=a.grace, progress=show)
    )
    print(format_table(results))
    print(json.dumps(report(results), indent=2))
    return 0 if all(t.ok for r in results for t in r.trials) else 1


if __name__ == "__main__":
    raise SystemExit(main())
