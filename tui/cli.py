"""``pfterm`` command line.

``pfterm`` opens the console; ``pfterm sim`` runs the Hyperliquid-compatible simulator
standalone. The parser reads the config model (:mod:`pfterm.core.runtime.config`): the flags'
choices and defaults and the config keys ``--help`` lists come from it
(:func:`pfterm.core.runtime.config_document.key_summary`). Textual, the venues and the trading
code are imported only after the arguments are parsed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from io import TextIOWrapper
    from logging.handlers import RotatingFileHandler

    from pydantic import BaseModel

USAGE_NOTES = """\
trading:
  The key comes from $PFTERM_HL_PRIVATE_KEY or --key-file PATH (chmod 600); with an API
  wallet, $PFTERM_HL_ACCOUNT names the master address. Without a key the console is
  read-only; on the embedded simulator a fresh funded account is made for each session.
  Any URL that reaches Hyperliquid mainnet or Binance production (however it is spelt)
  needs trading.allow_mainnet = true. The trading state (ACTIVE / HALTED) is shared by
  every pfterm process on an account: a kill anywhere halts them all; R or pfterm resume
  resumes. pfterm kill stops at trading.kill_deadline_s and says what is left.

examples:
  pfterm                                  embedded simulator, real market snapshot
  pfterm --speed 60                       a funding hour per minute
  pfterm --venue hyperliquid              watch real Hyperliquid mainnet
  pfterm --venue hyperliquid --network testnet
  pfterm sim --port 8765 --seed 1 --speed 60 &
  pfterm --url hyperliquid=http://127.0.0.1:8765
  pfterm kill --url hyperliquid=http://127.0.0.1:8765     flatten from the shell
  pfterm kill --venue hyperliquid --network testnet --key-file ~/.config/pfterm/hl.key
  pfterm resume --url hyperliquid=http://127.0.0.1:8765   ACTIVE again for every process
  pfterm harvest --venue sim --speed 3600 --duration 7d --seed 7 --report json
  pfterm harvest --profile moderate --venue hyperliquid --key-file ~/.config/pfterm/hl.key
  pfterm report --since 7d
  pfterm report --account 0x12ab34 --json   one account's book, open legs marked
  pfterm config --defaults > config.toml  every key with its default and meaning
"""
"""The epilog of ``pfterm --help`` after the config keys: trading access and examples."""


def config_help() -> str:
    """The ``configuration file`` part of ``pfterm --help``: every section and key with its
    default, generated from the config model."""
    from pfterm.core.runtime.config_document import key_summary

    return (
        "configuration file (TOML, optional; flags override it):\n"
        "  default location: the platform config dir, e.g. ~/.config/pfterm/config.toml\n"
        "  every key with its default and meaning: pfterm config --defaults\n"
        f"{key_summary()}\n"
        "  An unknown key or a bad value is reported on one line naming the key (exit 2).\n\n"
    )


def _choices(model: type[BaseModel], field: str) -> tuple[str, ...]:
    """The values a ``Literal`` field of a config model takes, e.g. ``("sim", "hyperliquid")``."""
    from typing import get_args

    return get_args(model.model_fields[field].annotation)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    """The full ``pfterm`` argument parser (console options + subcommands); choices, defaults
    and the config keys of its help come from the config model."""
    from pfterm.core.runtime.config import SORT_KEYS, VENUES, HarvestSection, Settings, VenueSection
    from pfterm.core.sim import options as sim_options

    d = Settings()  # the defaults the flags' help names
    networks = _choices(VenueSection, "network")
    p = _Parser(
        prog="pfterm",
        description="Terminal console for perpetual-futures traders: live funding, open interest, "
        "settlement countdowns and liquidation-cascade alerts.",
        epilog=config_help() + USAGE_NOTES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", type=Path, metavar="PATH", help="TOML config file (default: platform config dir)")
    p.add_argument("--venue", choices=VENUES, help=f"data source (default: {d.venue.name})")
    p.add_argument("--network", choices=networks, help=f"Hyperliquid network (default: {d.venue.network})")
    p.add_argument(
        "--url",
        action="append",
        default=[],
        metavar="VENUE=URL",
        help="override a venue's base URL, e.g. hyperliquid=http://127.0.0.1:8765 (repeatable)",
    )
    p.add_argument("--seed", type=int, help=f"simulator RNG seed (default: {d.sim.seed})")
    p.add_argument(
        "--speed", type=float, help=f"simulator clock speed, sim seconds per second (default: {d.sim.speed:g})"
    )
    p.add_argument("--include-delisted", action="store_true", default=None, help="also list delisted markets")
    p.add_argument("--sort", choices=SORT_KEYS, help=f"initial sort (default: {d.ui.sort})")
    p.add_argument("--log-file", type=Path, metavar="PATH", help="log file (default: platform log dir)")
    p.add_argument("--key-file", type=Path, metavar="PATH", help="trading key file, owner-only (chmod 600)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    kill = sub.add_parser(
        "kill",
        help="cancel every order and close every position, then verify flat (exit 0 only when flat)",
        description="The kill switch from the shell: halt, cancel every open order in one batch, close "
        "every position with reduce-only IOC orders in one batch, re-read the account and repeat "
        "until flat or the deadline (trading.kill_deadline_s). Exit 0 only when flat.",
    )
    kill.add_argument("--config", type=Path, metavar="PATH", default=argparse.SUPPRESS, help="TOML config file")
    kill.add_argument("--venue", choices=VENUES, default=argparse.SUPPRESS, help="venue")
    kill.add_argument("--network", choices=networks, default=argparse.SUPPRESS, help="Hyperliquid network")
    kill.add_argument(
        "--url",
        action="append",
        metavar="VENUE=URL",
        default=argparse.SUPPRESS,
        help="venue base URL, e.g. hyperliquid=http://127.0.0.1:8765 (a running pfterm sim)",
    )
    kill.add_argument(
        "--key-file", type=Path, metavar="PATH", default=argparse.SUPPRESS, help="trading key file (chmod 600)"
    )
    kill.add_argument("--log-file", type=Path, metavar="PATH", default=argparse.SUPPRESS, help="log file")
    resume = sub.add_parser(
        "resume",
        help="set the account's trading state back to ACTIVE after a kill (every pfterm process on it resumes)",
        description="The trading state (ACTIVE / REDUCING / HALTED) is shared by every pfterm process trading "
        "an account, through the journal. A kill (console key, pfterm kill, daily loss limit) halts them all; "
        "this sets ACTIVE again, like R in the console, and prints who halted it and why. Needs no venue.",
    )
    for flag, kw in (
        ("--config", dict(type=Path, metavar="PATH", help="TOML config file")),
        ("--venue", dict(choices=VENUES, help="venue")),
        ("--network", dict(choices=networks, help="Hyperliquid network")),
        ("--url", dict(action="append", metavar="VENUE=URL", help="venue base URL (which account network)")),
        ("--key-file", dict(type=Path, metavar="PATH", help="trading key file (chmod 600): which account")),
        ("--log-file", dict(type=Path, metavar="PATH", help="log file")),
    ):
        resume.add_argument(flag, default=argparse.SUPPRESS, **kw)
    report = sub.add_parser(
        "report",
        help="P&L attribution per position and strategy from the trading journal, one report per account book",
        description="Attribute P&L to positions: net = spot + perp + funding - fees (docs/domain.md section 7), "
        "per position, per strategy and in total, with the win rate; one report per book (an account, or "
        "the accounts of a perp-against-perp pair), naming the accounts it covers. Open legs are marked "
        "at the venue's mids (Hyperliquid mainnet/testnet, or --url hyperliquid=URL), shown apart from "
        "the realised figures; a position with a leg closed and another held is flagged partly open.",
    )
    report.add_argument(
        "--since",
        metavar="SINCE",
        help="ISO date/datetime (UTC), e.g. 2026-01-05, or a duration back from now: 7d, 24h",
    )
    report.add_argument("--json", action="store_true", help='print JSON instead of the table: {"books": [report, ...]}')
    report.add_argument("--journal", type=Path, metavar="PATH", help="journal file (default: trading.journal)")
    report.add_argument(
        "--account",
        metavar="LABEL_OR_ADDRESS",
        help="only the book of this account: its address/id (or a 6+ character prefix) or its label",
    )
    report.add_argument(
        "--url",
        action="append",
        metavar="VENUE=URL",
        default=argparse.SUPPRESS,
        help="read marks there: hyperliquid=URL (for books not on mainnet/testnet)",
    )
    report.add_argument("--no-marks", action="store_true", help="do not read marks: open legs stay unpriced")
    report.add_argument("--config", type=Path, metavar="PATH", default=argparse.SUPPRESS, help="TOML config file")
    config = sub.add_parser(
        "config",
        help="print the configuration as TOML: every key, its value and its meaning (--defaults: the defaults)",
        description="Print every section and key of the configuration as a commented TOML document: the "
        "settings in force (the config file, then the flags), or with --defaults the defaults, whatever "
        "the file says. The output is a valid config file. Exit 2 with one line for a bad file.",
    )
    config.add_argument("--defaults", action="store_true", help="print the defaults, not the settings in force")
    config.add_argument("--config", type=Path, metavar="PATH", default=argparse.SUPPRESS, help="TOML config file")
    harvest = sub.add_parser(
        "harvest",
        help="run the funding harvester headless (systemd-friendly); --duration on the simulator: a deterministic session",
        description="The automated funding harvester on the same engine, journal, risk limits and kill switch "
        "as the console. Live: runs until SIGTERM/SIGINT, logging to a rotating file and stderr; positions "
        "are left open unless --flatten-on-exit. With --venue sim and --duration: a deterministic "
        "accelerated session on the embedded simulator in lockstep with the harvester, ending with a report.",
    )
    harvest.add_argument(
        "--profile",
        choices=_choices(HarvestSection, "profile"),
        help=f"risk profile (docs/domain.md §6; default: harvest.profile, {d.harvest.profile})",
    )
    harvest.add_argument("--config", type=Path, metavar="PATH", default=argparse.SUPPRESS, help="TOML config file")
    harvest.add_argument("--venue", choices=VENUES, default=argparse.SUPPRESS, help="venue")
    harvest.add_argument("--network", choices=networks, default=argparse.SUPPRESS, help="Hyperliquid network")
    harvest.add_argument(
        "--url", action="append", metavar="VENUE=URL", default=argparse.SUPPRESS, help="venue base URL"
    )
    harvest.add_argument(
        "--key-file", type=Path, metavar="PATH", default=argparse.SUPPRESS, help="trading key file (chmod 600)"
    )
    harvest.add_argument("--log-file", type=Path, metavar="PATH", default=argparse.SUPPRESS, help="log file (rotated)")
    harvest.add_argument("--seed", type=int, default=argparse.SUPPRESS, help="simulator seed")
    harvest.add_argument(
        "--speed",
        type=float,
        default=argparse.SUPPRESS,
        help="simulator speed for a live session; a --duration session runs in lockstep, as fast as it can",
    )
    harvest.add_argument(
        "--duration", metavar="D", help="simulated duration, e.g. 7d, 36h (simulator only): deterministic session"
    )
    harvest.add_argument(
        "--regime",
        choices=["natural", "positive", "negative"],
        default="natural",
        help="simulator funding regime for a --duration session (default: natural)",
    )
    harvest.add_argument(
        "--report", choices=["json", "text"], default="text", help="session report format (default: text)"
    )
    harvest.add_argument("--journal", type=Path, metavar="PATH", help="keep the --duration session's journal here")
    harvest.add_argument(
        "--flatten-on-exit", action="store_true", help="on SIGTERM/SIGINT run the kill switch before exiting"
    )
    scan = sub.add_parser(
        "scan",
        help="print every venue's funding and open interest once (for scripts)",
        description="One REST snapshot of each venue, normalized: the funding rate with its interval "
        "and the venue's next settlement time, open interest single-sided in base units and USD. "
        "Venues: hyperliquid, binance, bybit, okx, dydx. Exit 0 when at least one venue answered.",
    )
    scan.add_argument("--json", action="store_true", help="JSON instead of a table")
    scan.add_argument("--venue", dest="scan_venues", metavar="A,B", help="comma-separated venues (default: all five)")
    scan.add_argument(
        "--url", action="append", metavar="VENUE=URL", default=argparse.SUPPRESS, help="a venue's base URL"
    )
    scan.add_argument("--config", type=Path, metavar="PATH", default=argparse.SUPPRESS, help="TOML config file")
    keys = sub.add_parser(
        "keys",
        help="list every key binding of the console: its id, keys, where it acts (remap in the config's [keys])",
        description="Every key binding of the console with its id, default keys (→ the keys the config sets), "
        'where it acts and what it does. Remap in the config file: [keys] "app.kill" = "f12" (several keys '
        "comma-separated); ui.kill_key is app.kill. Exit 2 when the config's remaps are unusable.",
    )
    keys.add_argument("--config", type=Path, metavar="PATH", default=argparse.SUPPRESS, help="TOML config file")
    sim = sub.add_parser(
        "sim",
        help="run the Hyperliquid-compatible simulator standalone (127.0.0.1 only)",
        description="The embedded simulator as a server: Hyperliquid's /info, /exchange and /ws, and "
        "Binance- and Bybit-compatible endpoints, on a loopback address. Prints one JSON line once "
        "listening. With --lockstep the clock moves only through POST /sim/advance "
        '{"seconds": N, "step_s": S}: a reproducible accelerated market for any client.',
    )
    sim.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default: 127.0.0.1)")
    sim.add_argument("--port", type=sim_options.port, default=8765, help="port (default: 8765; 0 = any free port)")
    sim.add_argument("--seed", type=int, default=d.sim.seed, help="RNG seed (default: %(default)s)")
    speed_or_lockstep = sim.add_mutually_exclusive_group()
    speed_or_lockstep.add_argument(
        "--speed",
        type=sim_options.speed,
        default=d.sim.speed,
        help=f"sim seconds per wall second, above 0, at most {sim_options.MAX_SPEED:g} (default: %(default)g)",
    )
    speed_or_lockstep.add_argument(
        "--lockstep",
        action="store_true",
        help="the clock stands still until POST /sim/advance {seconds, step_s} moves it",
    )
    sim.add_argument(
        "--cascade-rate",
        type=sim_options.cascade_rate,
        default=d.sim.cascade_rate,
        help="cascades per simulated hour (default: %(default)g)",
    )
    sim.add_argument(
        "--push-hz",
        type=sim_options.push_hz,
        default=2.0,
        help="activeAssetCtx / allMids pushes per coin per second (default: %(default)g)",
    )
    sim.add_argument("--start-ms", type=int, help="simulated clock start, ms UTC (default: now)")
    sim.add_argument(
        "--starting-usdc", type=sim_options.usdc, help="faucet credit of a new account, USDC (default: 100000)"
    )
    sim.add_argument(
        "--testnet",
        action="store_true",
        help="verify testnet signatures (what the official Python SDK sends to any non-mainnet URL)",
    )
    sim.add_argument("--regime", choices=["natural", "positive", "negative"], help="funding regime (default: natural)")
    return p


def _config(args: argparse.Namespace) -> int:
    """``pfterm config``: the settings in force (file, then flags) or, with ``--defaults``, the
    defaults, as a commented TOML document on stdout; exit 0, or 2 with one line for a bad file."""
    from pfterm.core.runtime.config import ConfigError
    from pfterm.core.runtime.config_document import settings_document

    if args.defaults:
        sys.stdout.write(settings_document())
        return 0
    try:
        settings = _settings_from_args(args)
    except ConfigError as exc:
        sys.stderr.write(f"pfterm config: error: {exc}\n")
        return 2
    sys.stdout.write(settings_document(settings))
    return 0


def _settings_from_args(args: argparse.Namespace):
    from pfterm.core.runtime.config import apply_override, load_settings, parse_url_overrides

    settings = load_settings(args.config, required=args.config is not None)
    for dotted, value in (
        ("venue.name", args.venue),
        ("venue.network", args.network),
        ("sim.seed", args.seed),
        ("sim.speed", args.speed),
        ("markets.include_delisted", args.include_delisted),
        ("ui.sort", args.sort),
    ):
        if value is not None:
            apply_override(settings, dotted, value)
    settings.urls.update(parse_url_overrides(args.url))
    _apply_http_settings(settings)
    return settings


def _apply_http_settings(settings) -> None:
    """Set the process-wide REST answer cap (``[http] max_answer_mb``) before any client starts."""
    from pfterm.core.venues.public_rest import set_max_body_bytes

    set_max_body_bytes(settings.http.max_answer_bytes())


def _private_log_handler(log_path: Path, backup_count: int) -> RotatingFileHandler:
    """A rotating log handler on ``log_path`` (5 MB a file, ``backup_count`` rotated files) whose
    files are created ``0600`` and whose missing directories ``0700``, whatever the umask (the log
    holds the trading history); an existing log or rotated log open to group/others gets a
    one-line warning and is tightened to ``0600`` when the user owns it.

    Raises:
        OSError: the directory or the file cannot be created.
    """
    from logging.handlers import RotatingFileHandler

    from pfterm.core.trading.journal import create_private_file, make_private_dirs, tighten_private_file

    class PrivateRotatingFileHandler(RotatingFileHandler):
        """Opens (and after a rollover re-creates) the log file ``0600``; rotated files keep that mode."""

        def _open(self) -> TextIOWrapper:
            create_private_file(Path(self.baseFilename))
            return super()._open()

    make_private_dirs(log_path.parent)
    for number in range(backup_count + 1):
        tighten_private_file(Path(f"{log_path}.{number}") if number else log_path, "log file")
    return PrivateRotatingFileHandler(log_path, maxBytes=5_000_000, backupCount=backup_count, encoding="utf-8")


def _setup_logging(path: Path | None) -> Path:
    import logging

    from platformdirs import user_log_path

    log_path = path or user_log_path("pfterm") / "pfterm.log"
    handler = _private_log_handler(log_path, 3)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    # httpx logs every request URL at INFO: a signed Binance URL carries a replayable signature
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return log_path


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pfterm`` console script; returns the exit status."""
    import time

    started = time.perf_counter()  # pfterm kill's deadline counts from here
    args = build_parser().parse_args(argv)
    if args.command == "sim":
        from pfterm.core.sim.__main__ import main as sim_main

        sim_argv = ["--host", args.host, "--port", str(args.port), "--seed", str(args.seed)]
        sim_argv += ["--cascade-rate", repr(args.cascade_rate), "--push-hz", repr(args.push_hz)]
        sim_argv += ["--lockstep"] if args.lockstep else ["--speed", repr(args.speed)]
        if args.start_ms is not None:
            sim_argv += ["--start-ms", str(args.start_ms)]
        if args.starting_usdc is not None:
            sim_argv += ["--starting-usdc", repr(args.starting_usdc)]
        if args.testnet:
            sim_argv += ["--testnet"]
        if args.regime:
            sim_argv += ["--regime", args.regime]
        return sim_main(sim_argv) or 0
    if args.command == "report":
        return _report(args)
    if args.command == "config":
        return _config(args)

    from pfterm.core.runtime.config import ConfigError
    from pfterm.core.trading.credentials import CredentialsError

    try:
        settings = _settings_from_args(args)
    except ConfigError as exc:
        sys.stderr.write(f"pfterm: error: {exc}\n")
        return 2
    if args.command == "keys":
        from pfterm.tui.bindings import key_table

        table, problem = key_table(settings)
        sys.stdout.write(table)
        if problem is not None:
            sys.stderr.write(f"pfterm: error: {problem}\n")
        return 2 if problem is not None else 0
    if args.command is None:
        # the console's keys ([keys], ui.kill_key): known ids, typable and free keys (one line, exit 2)
        from pfterm.tui.bindings import console_keymap

        try:
            console_keymap(settings)
        except ConfigError as exc:
            sys.stderr.write(f"pfterm: error: {exc}\n")
            return 2
    if args.command == "harvest":
        return _harvest(args, settings)
    if args.command == "scan":
        return _scan(args, settings)
    _setup_logging(args.log_file)

    from pfterm.core.runtime.session import resolve_access, resolve_endpoint

    endpoint = resolve_endpoint(settings)
    try:
        access = resolve_access(settings, endpoint, args.key_file)
    except (CredentialsError, ValueError) as exc:  # a bad key source, or a venue URL that does not parse
        sys.stderr.write(f"pfterm: error: {exc}\n")
        return 2
    if args.command == "kill":
        return _kill(settings, endpoint, access, started)
    if args.command == "resume":
        return _resume(settings, endpoint, access)

    from pfterm.tui.app import PftermApp

    app = PftermApp(settings, endpoint=endpoint, access=access, settles_heap=True)
    app.run()
    return app.return_code or 0


def _harvest(args: argparse.Namespace, settings) -> int:
    """``pfterm harvest``: a deterministic simulated session (``--duration``) or the live harvester."""
    import json
    import logging

    from platformdirs import user_log_path

    from pfterm.core.harvest.lockstep import harvester_settings, parse_duration

    hs = harvester_settings(settings, args.profile)
    log_path = getattr(args, "log_file", None) or settings.harvest.log_file or user_log_path("pfterm") / "harvest.log"
    log_path = Path(log_path).expanduser()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    file_handler = _private_log_handler(log_path, 5)
    file_handler.setFormatter(fmt)
    err = logging.StreamHandler(sys.stderr)
    err.setFormatter(fmt)
    root = logging.getLogger()
    root.handlers[:] = [file_handler, err]
    root.setLevel(logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)

    if args.duration is not None:
        if settings.venue.name != "sim" or settings.urls.get("hyperliquid"):
            sys.stderr.write("pfterm harvest: error: --duration runs on the embedded simulator only (--venue sim)\n")
            return 2
        try:
            duration_s = parse_duration(args.duration)
        except ValueError as exc:
            sys.stderr.write(f"pfterm harvest: error: {exc}\n")
            return 2
        err.setLevel(logging.WARNING)  # the report is the output; decisions go to the log file
        from pfterm.core.harvest.lockstep import run

        report = run(
            settings,
            hs,
            seed=settings.sim.seed,
            duration_s=duration_s,
            regime=args.regime,
            journal_path=args.journal,
            progress=lambda line: sys.stderr.write(line + "\n"),
        )
        if args.report == "json":
            print(json.dumps(report, indent=2))
        else:
            print(_session_text(report))
        return 0

    from pfterm.core.runtime.session import resolve_access, resolve_endpoint
    from pfterm.core.trading.credentials import CredentialsError

    endpoint = resolve_endpoint(settings)
    try:
        access = resolve_access(settings, endpoint, getattr(args, "key_file", None))
    except (CredentialsError, ValueError) as exc:  # a bad key source, or a venue URL that does not parse
        sys.stderr.write(f"pfterm harvest: error: {exc}\n")
        return 2
    if not access.can_trade:
        sys.stderr.write(f"pfterm harvest: error: read-only: {access.read_only}\n")
        return 2
    import asyncio

    from pfterm.core.runtime.session import harvest_live

    return asyncio.run(harvest_live(settings, endpoint, access, hs, flatten_on_exit=args.flatten_on_exit))


def _scan(args: argparse.Namespace, settings) -> int:
    """``pfterm scan``: one normalized snapshot per venue, printed as a table or JSON."""
    import asyncio
    import json
    from datetime import UTC, datetime

    from pfterm.core.crossvenue.session import SCAN_VENUES, scan
    from pfterm.core.crossvenue.symbols import SymbolMap

    venues = [v.strip().lower() for v in (args.scan_venues or ",".join(SCAN_VENUES)).split(",") if v.strip()]
    unknown = [v for v in venues if v not in SCAN_VENUES]
    if unknown:
        sys.stderr.write(f"pfterm scan: error: unknown venue {unknown[0]!r}; expected {', '.join(SCAN_VENUES)}\n")
        return 2
    urls = dict(settings.urls)
    if "hyperliquid" not in urls and settings.venue.name == "hyperliquid" and settings.venue.network == "testnet":
        urls["hyperliquid"] = "testnet"
    result = asyncio.run(scan(venues, urls, SymbolMap(settings.symbols.overrides)))
    ok = 0
    for venue, res in result.items():
        if isinstance(res, str):
            sys.stderr.write(f"pfterm scan: {venue}: {res}\n")
        else:
            ok += 1
    if args.json:
        out = {
            venue: (
                {"error": res}
                if isinstance(res, str)
                else {
                    "records": [
                        {
                            "symbol": r.symbol,
                            "native": r.native,
                            "rate": r.rate,
                            "interval_h": r.interval_h,
                            "next_funding_ms": r.next_funding_ms,
                            "apr": r.apr,
                            "mark_px": r.mark_px,
                            "index_px": r.index_px,
                            "oi_base": r.oi_base,
                            "oi_usd": r.oi_usd,
                            "time_ms": r.time_ms,
                        }
                        for r in sorted(res, key=lambda r: r.symbol)
                    ]
                }
            )
            for venue, res in result.items()
        }
        print(json.dumps(out, indent=1))
    else:
        print(f"{'symbol':<10} {'venue':<12} {'rate':>11} {'every':>5} {'APR':>9} {'next (UTC)':>11} {'OI (USD)':>14}")
        rows = [(r.symbol, v, r) for v, res in result.items() if not isinstance(res, str) for r in res]
        for sym, venue, r in sorted(rows, key=lambda x: (x[0], x[1])):
            nxt = (
                "-"
                if r.next_funding_ms is None
                else datetime.fromtimestamp(r.next_funding_ms / 1000, UTC).strftime("%d %H:%M")
            )
            oi = "-" if r.oi_usd is None else f"{r.oi_usd:,.0f}"
            print(
                f"{sym:<10} {venue:<12} {r.rate * 100:>10.4f}% {r.interval_h:>4g}h {r.apr * 100:>8.1f}% {nxt:>11} {oi:>14}"
            )
    return 0 if ok else 1


def _session_text(report: dict) -> str:
    s, a, pnl = report["session"], report["account"], report["pnl"]
    t = pnl["total"]
    lines = [
        f"simulated harvest: seed {s['seed']}, regime {s['regime']}, profile {s['profile']}, "
        + (f"{s['duration_s'] / 86400:g} days" if s["duration_s"] >= 86400 else f"{s['duration_s'] / 3600:g} hours")
        + f" in {s['cycles']} cycles, {s['wall_s']:.1f} s wall",
        f"equity {a['equity_start_usd']:,.2f} -> {a['equity_end_usd']:,.2f} USD; {a['open_positions']} position(s) still open",
        f"funding earned {t['funding_pnl']:+,.2f}  fees {-t['fees']:+,.2f}  spot {t['spot_pnl']:+,.2f}  "
        f"perp {t['perp_pnl']:+,.2f}  net {t['net']:+,.2f} USD",
        f"positions {t['positions']} ({t['closed']} closed), win rate "
        + ("-" if t["win_rate"] is None else f"{t['win_rate'] * 100:.0f}%")
        + ", realised funding APR "
        + ("-" if t["funding_apr_realised"] is None else f"{t['funding_apr_realised'] * 100:.1f}%"),
        *(
            f"  {name}: {b['positions']} position(s), funding {b['funding_pnl']:+,.2f}  fees {-b['fees']:+,.2f}  "
            f"net {b['net']:+,.2f} USD"
            for name, b in sorted(pnl.get("by_strategy", {}).items())
        ),
        f"status: {s['status']}"
        + ("" if report.get("kill_switch") is None else f" (kill switch: {report['kill_switch']['summary']})"),
        "decisions: " + ", ".join(f"{k} {v}" for k, v in sorted(report["decisions"].items())),
        "exits: " + (", ".join(f"{k} {v}" for k, v in sorted(report["exit_reasons"].items())) or "none"),
    ]
    return "\n".join(lines)


MARKS_TIMEOUT_S = 5.0
"""How long ``pfterm report`` waits for a venue's mids before reporting open legs unpriced."""


def _read_mids(url: str, timeout_s: float = MARKS_TIMEOUT_S) -> dict[str, float]:
    """Hyperliquid ``allMids`` at ``url`` (a base URL or ``"mainnet"``/``"testnet"``): USD mid
    by coin, perp symbols and spot pairs.

    Raises:
        pfterm.core.venues.errors.VenueError, TimeoutError, ValueError: unreadable within ``timeout_s``.
    """
    import asyncio

    from pfterm.core.venues.hyperliquid.rest import HyperliquidInfo

    async def read() -> dict[str, float]:
        async with HyperliquidInfo(url, timeout_s=timeout_s) as info:
            return await asyncio.wait_for(info.all_mids(), timeout_s + 1.0)

    return asyncio.run(read())


def _marks_source(book, urls: dict[str, str]) -> tuple[str | None, str]:
    """Where the marks of ``book``'s open legs are read: its Hyperliquid account's network
    (mainnet, testnet) or the ``hyperliquid`` URL given (``--url``/config) for any other
    network; ``(None, why)`` when there is none."""
    hl = next((m for m in book.members if m.venue == "hyperliquid"), None)
    if hl is None:
        return None, f"no Hyperliquid account in the book to read marks from ({book.primary.label})"
    if hl.network in ("mainnet", "testnet"):
        return hl.network, ""
    if urls.get("hyperliquid"):
        return urls["hyperliquid"], ""
    if hl.network.startswith("sim:"):
        return None, "the embedded simulator session has ended; pass --url hyperliquid=URL to mark at another venue"
    if hl.network.startswith("url:"):
        return None, f"pass --url hyperliquid=URL to read marks from {hl.network[4:]}"
    return None, f"network {hl.network!r} has no known URL; pass --url hyperliquid=URL"


def _report(args: argparse.Namespace) -> int:
    """``pfterm report``: the journal's P&L attribution, one report per book (table or
    ``{"books": [...]}`` JSON), open legs marked at the venue's mids when they can be read
    (else noted unpriced, one line each); exit 0, or 2 with one line for a bad --since,
    --url, --account, config or journal path."""
    import json

    from pfterm.core.harvest.report import books_matching, build_report, parse_since, report_json, report_text
    from pfterm.core.runtime.config import ConfigError, load_settings, parse_url_overrides

    try:
        since_ms = None if args.since is None else parse_since(args.since)
        settings = load_settings(args.config, required=args.config is not None)
        _apply_http_settings(settings)
        urls = {**settings.urls, **parse_url_overrides(getattr(args, "url", None) or [])}
    except (ValueError, ConfigError) as exc:
        sys.stderr.write(f"pfterm report: error: {exc}\n")
        return 2
    if args.journal is not None:
        path = args.journal.expanduser()
    else:
        from pfterm.core.runtime.session import journal_path

        path = journal_path(settings)
    if not path.is_file():
        sys.stderr.write(f"pfterm report: error: no journal at {path}\n")
        return 2
    import sqlite3

    from pfterm.core.trading.journal import Journal, JournalError

    aliases = settings.trading.spot_aliases
    mids: dict[str, dict[str, float] | str] = {}  # source → mids, or why they could not be read
    try:
        with Journal(path) as journal:
            books = journal.books()
            if args.account is not None:
                books = books_matching(books, args.account)
                if not books:
                    n = len(journal.accounts())
                    sys.stderr.write(
                        f"pfterm report: error: no account matching {args.account!r} in {path} ({n} account(s))\n"
                    )
                    return 2
            reports = []
            for book in books:
                report = build_report(journal, since_ms=since_ms, aliases=aliases, book=book)
                if any(p.is_open for p in report.positions):
                    source, why = (None, "--no-marks") if args.no_marks else _marks_source(book, urls)
                    if source is not None and source not in mids:
                        try:
                            mids[source] = _read_mids(source)
                        except Exception as exc:  # noqa: BLE001 - any failure: report unpriced, say why
                            mids[source] = f"{source}: {type(exc).__name__}: {exc}".splitlines()[0][:160]
                    got = None if source is None else mids[source]
                    if isinstance(got, dict):
                        report = build_report(journal, since_ms=since_ms, aliases=aliases, book=book, marks=got)
                        report.notes.append(f"open legs marked at the mids of {source}")
                        if any(leg.leg == "hedge" for p in report.positions for leg in p.open_legs):
                            report.notes.append("the hedge venue's legs are marked at the Hyperliquid mid")
                    else:
                        report.notes.append(f"open legs unpriced: {why or got}")
                reports.append(report)
    except (sqlite3.Error, JournalError) as exc:
        sys.stderr.write(f"pfterm report: error: cannot read the journal {path}: {exc}\n")
        return 2
    if args.json:
        print(json.dumps({"books": [report_json(r) for r in reports]}, indent=2, sort_keys=True))
        return 0
    from datetime import UTC, datetime

    when = (
        "its start" if since_ms is None else datetime.fromtimestamp(since_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")
    )
    shown = [r for r in reports if r.positions]
    if not shown:
        print(f"no fills in the journal since {when}")
        return 0
    print("\n\n".join(report_text(r) for r in shown))
    quiet = [r.book.label for r in reports if not r.positions and r.book is not None]
    if quiet:
        print(f"\nno fills since {when} for: " + "; ".join(quiet))
    return 0


def _kill(settings, endpoint, access, started: float) -> int:
    """``pfterm kill``: exit 0 only when every venue is verified flat, 1 otherwise (what is left
    is printed), 2 for bad arguments. Whatever happens, one line per problem, never a traceback."""
    import asyncio
    import logging

    from pfterm.core.runtime.session import kill_headless

    if endpoint.embedded:
        sys.stderr.write(
            "pfterm kill: error: the embedded simulator starts empty; point at a running venue with "
            "--url hyperliquid=URL (a `pfterm sim`) or --venue hyperliquid\n"
        )
        return 2
    if not access.can_trade:
        sys.stderr.write(f"pfterm kill: error: read-only: {access.read_only}\n")
        return 2
    try:
        report = asyncio.run(
            kill_headless(settings, endpoint, access, write=lambda line: print(line, flush=True), started=started)
        )
    except KeyboardInterrupt:
        sys.stderr.write("pfterm kill: interrupted; the account is HALTED, positions may be left open\n")
        return 1
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, never a traceback
        logging.getLogger("pfterm.kill").exception("pfterm kill failed")
        sys.stderr.write(f"pfterm kill: error: {type(exc).__name__}: {exc} (details in the log)\n")
        return 1
    return 0 if report.flat else 1


def _resume(settings, endpoint, access) -> int:
    """``pfterm resume``: ACTIVE again for the account (and its Binance leg); exit 0, or 2 with
    one line (embedded simulator, no account, journal unreadable)."""
    import sqlite3

    from pfterm.core.runtime.session import resume_accounts
    from pfterm.core.trading.journal import JournalError

    if endpoint.embedded:
        sys.stderr.write("pfterm resume: error: the embedded simulator's account lives in its console; press R there\n")
        return 2
    if not access.account:
        sys.stderr.write(f"pfterm resume: error: which account? {access.read_only or 'no key'}\n")
        return 2
    try:
        for line in resume_accounts(settings, endpoint, access):
            print(line)
    except (sqlite3.Error, JournalError, ValueError) as exc:
        sys.stderr.write(f"pfterm resume: error: {exc}\n")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
