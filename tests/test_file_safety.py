"""Files pfterm writes are its user's alone, whatever the umask: the journal and its WAL side
files, the log files and their rotated copies are created 0600 in 0700 directories; an
existing one open to others is tightened with a warning."""

from __future__ import annotations

import json
import logging
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pfterm.core.runtime.config import Settings
from pfterm.core.runtime.session import open_journal
from pfterm.core.trading.credentials import CredentialsError, load_key
from pfterm.core.trading.journal import Journal
from pfterm.core.venues.binance.futures import BinanceCredentials, BinanceError, BinanceFuturesClient, OrderRequest
from pfterm.core.venues.binance.market import BinanceStream
from pfterm.core.venues.bybit.market import BybitStream
from pfterm.core.venues.dydx.market import DydxStream
from pfterm.core.venues.errors import one_line
from pfterm.core.venues.hyperliquid.exchange import _order_result
from pfterm.core.venues.hyperliquid.wire import ChannelError, decode_ws_frame
from pfterm.core.venues.okx.market import OkxStream
from pfterm.tui.cli import _private_log_handler
from tests.replay import ListSink
from tests.test_binance_futures import EXCHANGE_INFO


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_journal_and_its_side_files_are_created_owner_only(tmp_path: Path, umask_022: None) -> None:
    path = tmp_path / "state" / "pfterm" / "journal.sqlite"
    journal = Journal(path)
    try:
        assert _mode(tmp_path / "state") == 0o700
        assert _mode(tmp_path / "state" / "pfterm") == 0o700
        assert _mode(path) == 0o600
        side = [Path(f"{path}{suffix}") for suffix in ("-wal", "-shm")]
        assert all(p.exists() for p in side)  # WAL mode: both exist while the journal is open
        assert [_mode(p) for p in side] == [0o600, 0o600]
    finally:
        journal.close()


def test_open_journal_creates_its_directory_owner_only(tmp_path: Path, umask_022: None) -> None:
    settings = Settings()
    settings.trading.journal = tmp_path / "data" / "journal.sqlite"
    journal = open_journal(settings)
    try:
        assert _mode(tmp_path / "data") == 0o700
        assert _mode(tmp_path / "data" / "journal.sqlite") == 0o600
    finally:
        journal.close()


def test_existing_directories_are_left_as_they_are(tmp_path: Path, umask_022: None) -> None:
    tmp_path.chmod(0o755)
    Journal(tmp_path / "journal.sqlite").close()
    assert _mode(tmp_path) == 0o755


def test_an_open_journal_is_tightened_with_a_warning(
    tmp_path: Path, umask_022: None, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "journal.sqlite"
    Journal(path).close()
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="pfterm.core.trading.journal"):
        Journal(path).close()
    assert _mode(path) == 0o600
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "0644" in warnings[0] and "\n" not in warnings[0]


def test_a_journal_owned_by_another_user_is_not_chmodded(
    tmp_path: Path, umask_022: None, caplog: pytest.LogCaptureFixture
) -> None:
    if os.getuid() != 0:
        pytest.skip("chown to another user needs root")
    path = tmp_path / "journal.sqlite"
    Journal(path).close()
    path.chmod(0o644)
    os.chown(path, 65534, 65534)
    with caplog.at_level(logging.WARNING, logger="pfterm.core.trading.journal"):
        Journal(path).close()
    assert _mode(path) == 0o644
    assert any("another user" in r.getMessage() for r in caplog.records)


def test_log_files_and_rotated_ones_are_owner_only(tmp_path: Path, umask_022: None) -> None:
    path = tmp_path / "log" / "pfterm" / "pfterm.log"
    handler = _private_log_handler(path, 3)
    try:
        log = logging.getLogger("test_file_safety.rotation")
        log.propagate = False
        log.addHandler(handler)
        log.warning("first")
        handler.doRollover()
        log.warning("second")
        handler.doRollover()
        log.warning("third")
        log.removeHandler(handler)
    finally:
        handler.close()
    assert _mode(tmp_path / "log") == 0o700
    assert _mode(tmp_path / "log" / "pfterm") == 0o700
    files = sorted(path.parent.iterdir())
    assert [p.name for p in files] == ["pfterm.log", "pfterm.log.1", "pfterm.log.2"]
    assert {_mode(p) for p in files} == {0o600}


def test_an_open_log_file_is_tightened_with_a_warning(
    tmp_path: Path, umask_022: None, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "pfterm.log"
    path.write_text("old\n")
    rotated = tmp_path / "pfterm.log.2"
    rotated.write_text("older\n")
    path.chmod(0o644)
    rotated.chmod(0o640)
    with caplog.at_level(logging.WARNING):
        _private_log_handler(path, 3).close()
    assert _mode(path) == 0o600 and _mode(rotated) == 0o600
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and all("log file" in w for w in warnings)


# ---------------------------------------------------------------- the key file

KEY = "0x" + "4c" * 32


def _key_file(directory: Path, mode: int = 0o600) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "hl.key"
    path.write_text(KEY + "\n")
    path.chmod(mode)
    return path


def _refused(path: Path, words: str) -> None:
    with pytest.raises(CredentialsError) as info:
        load_key(path, {})
    message = str(info.value)
    assert words in message, message
    assert "\n" not in message and KEY[2:] not in message and "4c4c" not in message


@pytest.fixture
def root_only() -> None:
    if os.getuid() != 0:
        pytest.skip("chown to another user needs root")


@pytest.mark.parametrize("dir_mode", [0o700, 0o755, 0o1777])
def test_an_owner_only_key_file_is_accepted(tmp_path: Path, dir_mode: int) -> None:
    directory = tmp_path / "keys"
    path = _key_file(directory)
    directory.chmod(dir_mode)
    loaded = load_key(path, {})
    assert loaded is not None and loaded[1] == str(path)


def test_a_symlink_of_the_users_own_to_the_users_key_is_accepted(tmp_path: Path) -> None:
    target = _key_file(tmp_path / "keys")
    link = tmp_path / "link.key"
    link.symlink_to(target)
    assert load_key(link, {}) is not None


def test_a_symlink_owned_by_another_user_is_refused(tmp_path: Path, root_only: None) -> None:
    target = _key_file(tmp_path / "keys")
    link = tmp_path / "link.key"
    link.symlink_to(target)
    os.lchown(link, 65534, 65534)
    _refused(link, "symlink not owned by the current user")


def test_a_symlink_to_another_users_file_is_refused(tmp_path: Path, root_only: None) -> None:
    target = _key_file(tmp_path / "keys")
    os.chown(target, 65534, 65534)
    link = tmp_path / "link.key"
    link.symlink_to(target)
    _refused(link, "the target of symlink")


def test_a_key_file_owned_by_another_user_is_refused(tmp_path: Path, root_only: None) -> None:
    path = _key_file(tmp_path / "keys")
    os.chown(path, 65534, 65534)
    _refused(path, "not owned by the current user")


@pytest.mark.parametrize("dir_mode", [0o777, 0o770, 0o757])
def test_a_key_in_a_directory_others_may_write_is_refused(tmp_path: Path, dir_mode: int) -> None:
    directory = tmp_path / "shared"
    path = _key_file(directory)
    directory.chmod(dir_mode)
    _refused(path, "no sticky bit")


def test_a_key_below_a_directory_others_may_write_is_refused(tmp_path: Path) -> None:
    path = _key_file(tmp_path / "shared" / "mine")
    (tmp_path / "shared").chmod(0o777)
    _refused(path, f"{tmp_path / 'shared'}, which group/others may write")


def test_a_symlink_in_a_directory_others_may_write_is_refused(tmp_path: Path) -> None:
    target = _key_file(tmp_path / "keys")
    shared = tmp_path / "shared"
    shared.mkdir()
    link = shared / "link.key"
    link.symlink_to(target)
    shared.chmod(0o777)
    _refused(link, "no sticky bit")


# ---------------------------------------------------------------- venue text

HOSTILE = "\x1b[2J\x1b[31mMargin\x07 is\x7f insufficient\x1b]0;owned\x07\x9b1;1H\r\n2026-01-01 INFO forged\x00"
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _clean(text: str) -> None:
    assert not CONTROL.search(text), repr(text)
    assert "owned" not in text and "[31m" not in text, repr(text)


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[31mred\x1b[0m text", "red text"),
        ("bell\x07 ring", "bell ring"),
        ("title \x1b]0;set by venue\x07 kept", "title kept"),
        ("link \x1b]8;;http://x\x1b\\label\x1b]8;;\x1b\\ end", "link label end"),
        ("keypad \x1bOA \x1b7saved\x1b8", "keypad saved"),
        ("8-bit \x9b2J csi \x9d0;t\x9c end \x85 next", "8-bit csi end next"),
        ("nul\x00 del\x7f c1\x80\x9f", "nul del c1"),
        ("tabs\tand\r\nlines", "tabs and lines"),
        ("trailing escape \x1b", "trailing escape"),
        ("Ünïcode → kept …", "Ünïcode → kept …"),
    ],
)
def test_one_line_removes_escape_sequences_and_control_characters(raw: str, shown: str) -> None:
    assert one_line(raw) == shown


def test_one_line_of_hostile_text_is_clean() -> None:
    _clean(one_line(HOSTILE))
    assert one_line(HOSTILE) == "Margin is insufficient 2026-01-01 INFO forged"


def test_a_hyperliquid_order_error_is_clean() -> None:
    result = _order_result("0x" + "00" * 16, {"error": HOSTILE})
    assert result is not None and result.error is not None
    _clean(result.error)


def test_a_hyperliquid_channel_error_is_clean() -> None:
    msg = decode_ws_frame(json.dumps({"channel": "error", "data": HOSTILE}))
    assert isinstance(msg, ChannelError)
    _clean(msg.message)


async def test_a_binance_rejection_never_reaches_a_log_record_raw(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/fapi/v1/exchangeInfo":
            return httpx.Response(200, json=EXCHANGE_INFO)
        if request.url.path == "/fapi/v1/batchOrders":
            return httpx.Response(200, json=[{"code": -2019, "msg": HOSTILE}])
        return httpx.Response(400, json={"code": -2019, "msg": HOSTILE})

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    creds = BinanceCredentials("k" * 64, "s" * 64)
    async with BinanceFuturesClient("https://fapi.test", creds, client=http, retry_delay_s=0.0) as client:
        with pytest.raises(BinanceError) as info:
            await client.open_orders("BTCUSDT")
        (entry,) = await client.place_batch([OrderRequest("BTCUSDT", "BUY", 0.01, 60000.0, client_order_id="c-1")])
    await http.aclose()
    assert isinstance(entry, BinanceError)
    for text in (str(info.value), info.value.msg, str(entry), entry.msg, *(r.getMessage() for r in caplog.records)):
        _clean(text)
    assert "Margin is insufficient" in str(info.value)


def _stream_frames() -> list[tuple[Any, str]]:
    sink = ListSink()
    return [
        (BinanceStream(sink, "ws://127.0.0.1:9"), json.dumps({"id": 1, "error": {"code": 2, "msg": HOSTILE}})),
        (
            BybitStream(sink, ["BTCUSDT"], "ws://127.0.0.1:9"),
            json.dumps({"op": "subscribe", "success": False, "ret_msg": HOSTILE}),
        ),
        (
            OkxStream(sink, ["BTC-USDT-SWAP"], ws_url="ws://127.0.0.1:9"),
            json.dumps({"event": "error", "code": "60012", "msg": HOSTILE}),
        ),
        (DydxStream(sink, ["BTC-USD"], ws_url="ws://127.0.0.1:9"), json.dumps({"type": "error", "message": HOSTILE})),
    ]


@pytest.mark.parametrize("index", range(4), ids=["binance", "bybit", "okx", "dydx"])
def test_a_stream_error_message_never_reaches_a_log_record_raw(index: int, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    stream, frame = _stream_frames()[index]
    stream._handle(frame, 0.0)
    assert stream.venue_errors == 1
    assert caplog.records, "the first venue error is logged at once"
    for text in (stream._detail, *(r.getMessage() for r in caplog.records)):
        _clean(text)


def test_a_stream_close_reason_loses_its_escape_codes() -> None:
    from pfterm.core.venues.wsbase import _close_detail

    detail = _close_detail(1008, "policy\x1b[31m violation\x07 \x1b]0;title\x07", "closed")
    assert "\x1b" not in detail and "\x07" not in detail
    assert detail == "closed: code 1008 policy violation"
