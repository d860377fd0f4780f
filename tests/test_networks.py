"""The mainnet gate goes by the parsed URL (``pfterm.core.venues.networks``): every spelling of Hyperliquid
mainnet or Binance production needs ``trading.allow_mainnet``, through ``resolve_access``, the
Binance leg and ``pfterm kill``; nothing here resolves a name or opens a connection."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest

from pfterm.core.runtime.config import Settings
from pfterm.core.runtime.session import (
    BINANCE_TESTNET_URL,
    Endpoint,
    account_network,
    hedge_venue_url,
    resolve_access,
    resolve_endpoint,
    trading_network,
)
from pfterm.core.trading.credentials import ACCOUNT_ENV, KEY_ENV, trading_access
from pfterm.core.venues.hyperliquid import MAINNET_API_URL, TESTNET_API_URL, api_url_for
from pfterm.core.venues.hyperliquid.signing import Signer
from pfterm.core.venues.networks import binance_futures_network, hyperliquid_network, parse_venue_url

HL_MAINNET = [
    "mainnet",
    "MAINNET",
    "  Mainnet\n",
    "https://api.hyperliquid.xyz",
    "https://api.hyperliquid.xyz/",
    "https://api.hyperliquid.xyz:443",
    "https://api.hyperliquid.xyz:443/",
    "https://API.Hyperliquid.xyz",
    "https://api.hyperliquid.xyz./",
    "https://API.Hyperliquid.xyz./",
    "https://api.hyperliquid.xyz../",
    "http://api.hyperliquid.xyz",
    "http://api.hyperliquid.xyz:80/",
    "HTTPS://API.HYPERLIQUID.XYZ",
    "Https://api.hyperliquid.xyz/info",
    "https://api.hyperliquid.xyz/some/path?q=1#frag",
    "https://trader@api.hyperliquid.xyz",
    "https://user:secret@api.hyperliquid.xyz:443/",
    "  https://api.hyperliquid.xyz  ",
    "https://api.hyperliquid.xyz:8443",
    "https://api%2Ehyperliquid%2Exyz",
    "https://\uff21\uff30\uff29\uff0ehyperliquid\uff0exyz",  # full-width "API．hyperliquid．xyz"
    "https://api\u3002hyperliquid\u3002xyz",  # ideographic full stops
    "wss://api.hyperliquid.xyz/ws",
    "WSS://API.Hyperliquid.xyz.:443/ws",
    "ws://api.hyperliquid.xyz/ws",
    "https://hyperliquid.xyz",
    "https://api-ui.hyperliquid.xyz",  # any other host under the mainnet domain
]
HL_TESTNET = [
    "testnet",
    " TestNet ",
    "https://api.hyperliquid-testnet.xyz",
    "https://API.Hyperliquid-Testnet.xyz.:443/",
    "http://user@api.hyperliquid-testnet.xyz/info",
    "wss://api.hyperliquid-testnet.xyz/ws",
]
LOCAL = [
    "http://127.0.0.1:8765",
    "http://127.0.0.1:8765/",
    "HTTP://127.0.0.1:8765/info",
    "http://127.0.0.2:1",
    "http://[::1]:8765",
    "http://localhost:8765",
    "http://LOCALHOST.:8765/",
    "ws://127.0.0.1:8765/ws",
]
BINANCE_PRODUCTION = [
    "https://fapi.binance.com",
    "https://fapi.binance.com/",
    "https://FAPI.Binance.com",
    "https://fapi.binance.com.:443/fapi/v1",
    "http://fapi.binance.com",
    "https://key:secret@fapi.binance.com",
    " https://fapi.binance.com ",
    "HTTPS://fapi.binance.com",
    "https://fapi1.binance.com",
    "https://fapi%2Ebinance%2Ecom",
    "wss://fstream.binance.com/market/stream",
    "https://binance.com",
]
BINANCE_TEST = [
    "https://testnet.binancefuture.com",
    "https://TESTNET.binancefuture.com.:443/",
    "wss://stream.binancefuture.com/ws",
    "wss://fstream.binancefuture.com",
    "https://demo-fapi.binance.com",
    "wss://demo-fstream.binance.com/ws",
]
NOT_URLS = [
    "",
    "   ",
    "api.hyperliquid.xyz",  # no scheme
    "ftp://api.hyperliquid.xyz",
    "file:///etc/passwd",
    "https://",
    "https://:443",
    "https://api.hyperliquid.xyz:port",
    "https://api.hyperliquid.xyz:99999",
    "http://[::1",
    "https://evil.example\\@api.hyperliquid.xyz",  # parsers disagree on the host
    "https://a@b@api.hyperliquid.xyz",
    "https://api.hyper liquid.xyz",
    "devnet",
]


@pytest.fixture
def key_hex() -> str:
    """A random key made for this test, in hex (never a real one)."""
    signer = Signer.generate()
    hex_key = "0x" + bytes(signer._account.key).hex()  # noqa: SLF001 - the only way to the generated key
    assert Signer(hex_key).address == signer.address
    return hex_key


@pytest.fixture
def key_env(monkeypatch: pytest.MonkeyPatch, key_hex: str) -> str:
    monkeypatch.setenv(KEY_ENV, key_hex)
    monkeypatch.delenv(ACCOUNT_ENV, raising=False)
    return key_hex


def _settings(url: str, *, allow_mainnet: bool = False, network: str = "mainnet") -> Settings:
    s = Settings()
    s.urls["hyperliquid"] = url
    s.venue.network = network  # type: ignore[assignment]
    s.trading.allow_mainnet = allow_mainnet
    return s


# --------------------------------------------------------------------------- classification


@pytest.mark.parametrize("url", HL_MAINNET)
def test_every_spelling_of_hyperliquid_mainnet_is_mainnet(url: str) -> None:
    assert hyperliquid_network(url) == "mainnet"


@pytest.mark.parametrize("url", HL_TESTNET)
def test_hyperliquid_testnet_spellings_are_testnet(url: str) -> None:
    assert hyperliquid_network(url) == "testnet"


@pytest.mark.parametrize("url", LOCAL)
def test_loopback_urls_are_local(url: str) -> None:
    assert hyperliquid_network(url) == "local"
    assert binance_futures_network(url) == "local"


@pytest.mark.parametrize("url", ["https://example.com", "http://10.0.0.5:8765", "https://hyperliquid.xyz.example.com"])
def test_other_hosts_are_other(url: str) -> None:
    assert hyperliquid_network(url) == "other"
    assert binance_futures_network(url) == "other"


@pytest.mark.parametrize("url", BINANCE_PRODUCTION)
def test_binance_production_spellings(url: str) -> None:
    assert binance_futures_network(url) == "mainnet"


@pytest.mark.parametrize("url", BINANCE_TEST)
def test_binance_testnet_and_demo_hosts(url: str) -> None:
    assert binance_futures_network(url) == "testnet"


@pytest.mark.parametrize("url", NOT_URLS)
def test_unparseable_urls_raise_one_line(url: str) -> None:
    with pytest.raises(ValueError) as err:
        hyperliquid_network(url)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError):
        binance_futures_network(url)


def test_canonical_address_drops_case_dots_default_ports_and_userinfo() -> None:
    a = parse_venue_url("HTTPS://user:hunter2@API.Hyperliquid.xyz.:443/info")
    assert (a.scheme, a.host, a.port, a.netloc) == ("https", "api.hyperliquid.xyz", None, "api.hyperliquid.xyz")
    assert parse_venue_url("http://127.0.0.1:80/").netloc == "127.0.0.1"
    assert parse_venue_url("https://127.0.0.1:80/").netloc == "127.0.0.1:80"  # 80 is not https's default
    assert parse_venue_url("http://[::1]:8765/").netloc == "[::1]:8765"
    assert parse_venue_url("https://b\u00fccher.example").host == "xn--bcher-kva.example"
    with pytest.raises(ValueError) as err:
        parse_venue_url("gopher://user:hunter2@api.hyperliquid.xyz")
    assert "hunter2" not in str(err.value)


def test_api_url_for_takes_any_case_of_a_network_name() -> None:
    assert api_url_for(" MAINNET ") == MAINNET_API_URL
    assert api_url_for("Testnet") == TESTNET_API_URL
    assert api_url_for("HTTP://127.0.0.1:8080/") == "HTTP://127.0.0.1:8080"


# --------------------------------------------------------------------------- the trading gate


@pytest.mark.parametrize("url", HL_MAINNET)
def test_mainnet_spellings_are_refused_without_the_opt_in(url: str, key_env: str) -> None:
    s = _settings(url, network="testnet")  # the URL decides, not venue.network
    endpoint = resolve_endpoint(s)
    assert trading_network(s, endpoint) == ("mainnet", True)
    access = resolve_access(s, endpoint)
    assert not access.can_trade and access.network == "mainnet"
    assert "trading.allow_mainnet" in (access.read_only or "")
    assert "\n" not in (access.read_only or "")
    assert key_env[2:] not in (access.read_only or "") and key_env[2:] not in repr(access)
    gated = trading_access(trading_network(s, endpoint)[0], env={KEY_ENV: key_env})
    assert not gated.can_trade and "trading.allow_mainnet" in (gated.read_only or "")
    assert account_network(endpoint) == "mainnet"


@pytest.mark.parametrize("url", HL_MAINNET)
def test_mainnet_spellings_trade_with_the_opt_in(url: str, key_env: str) -> None:
    s = _settings(url, allow_mainnet=True, network="testnet")
    endpoint = resolve_endpoint(s)
    access = resolve_access(s, endpoint)
    assert access.can_trade and access.network == "mainnet"
    assert trading_network(s, endpoint)[1] is True  # signed for mainnet


@pytest.mark.parametrize("url", HL_TESTNET)
def test_testnet_spellings_trade_without_the_opt_in_and_sign_for_testnet(url: str, key_env: str) -> None:
    s = _settings(url, network="mainnet")
    endpoint = resolve_endpoint(s)
    assert trading_network(s, endpoint) == ("testnet", False)
    assert resolve_access(s, endpoint).can_trade
    assert account_network(endpoint) == "testnet"


@pytest.mark.parametrize("url", LOCAL)
def test_local_urls_trade_and_sign_as_venue_network_says(url: str, key_env: str) -> None:
    s = _settings(url, network="mainnet")
    endpoint = resolve_endpoint(s)
    assert trading_network(s, endpoint) == ("testnet", True)  # a pfterm sim verifies mainnet signatures
    assert resolve_access(s, endpoint).can_trade
    s.venue.network = "testnet"
    assert trading_network(s, endpoint) == ("testnet", False)


@pytest.mark.parametrize("url", ["https://hl-proxy.example.com", "http://10.0.0.5:8765"])
def test_a_remote_host_signing_for_mainnet_is_gated_as_mainnet(url: str, key_env: str) -> None:
    s = _settings(url, network="mainnet")  # signatures valid on mainnet, wherever it forwards them
    endpoint = resolve_endpoint(s)
    assert trading_network(s, endpoint) == ("mainnet", True)
    access = resolve_access(s, endpoint)
    assert not access.can_trade and "trading.allow_mainnet" in (access.read_only or "")
    s.venue.network = "testnet"  # testnet signatures are worthless on mainnet
    assert trading_network(s, endpoint) == ("testnet", False)
    assert resolve_access(s, endpoint).can_trade


def test_network_aliases_resolve_to_the_real_url() -> None:
    assert resolve_endpoint(_settings("mainnet")).http_url == MAINNET_API_URL
    assert resolve_endpoint(_settings(" Testnet ")).http_url == TESTNET_API_URL
    assert resolve_endpoint(_settings("http://127.0.0.1:8765/")).http_url == "http://127.0.0.1:8765"


def test_the_venue_network_gates_without_a_url(key_env: str) -> None:
    s = Settings()
    s.venue.name = "hyperliquid"  # type: ignore[assignment]
    endpoint = resolve_endpoint(s)
    assert not resolve_access(s, endpoint).can_trade
    s.venue.network = "testnet"  # type: ignore[assignment]
    assert resolve_access(s, resolve_endpoint(s)).can_trade


def test_journal_network_is_the_canonical_host() -> None:
    def label(url: str) -> str:
        return account_network(Endpoint("x", url, None, False))

    assert label("http://127.0.0.1:8765/") == label("HTTP://127.0.0.1:8765") == "url:127.0.0.1:8765"
    assert label("http://user:pw@LOCALHOST.:80/") == "url:localhost"
    # each embedded session is a network of its own: its accounts and order ids live one session
    assert account_network(Endpoint("sim", None, 1.0, True, "ab12cd34")) == "sim:ab12cd34"
    assert account_network(Endpoint("sim", None, 1.0, True, "ab12cd34")) != account_network(
        Endpoint("sim", None, 1.0, True, "ef56ab78")
    )


def test_an_unparseable_url_is_a_one_line_error(key_env: str) -> None:
    s = _settings("ftp://api.hyperliquid.xyz")
    with pytest.raises(ValueError) as err:
        resolve_access(s, resolve_endpoint(s))
    assert "\n" not in str(err.value)


# --------------------------------------------------------------------------- the Binance leg


LOCAL_HL = Endpoint("hyperliquid @ http://127.0.0.1:8765", "http://127.0.0.1:8765", None, False)


@pytest.mark.parametrize("url", BINANCE_PRODUCTION)
def test_binance_production_url_needs_the_opt_in(url: str) -> None:
    s = Settings()
    s.trading.binance_url = url
    got, why = hedge_venue_url(s, LOCAL_HL, "http://127.0.0.1:8765")
    assert got is None and "trading.allow_mainnet" in why and "\n" not in why
    s.trading.allow_mainnet = True
    assert hedge_venue_url(s, LOCAL_HL, "http://127.0.0.1:8765") == (url.strip(), "trading.binance_url")


@pytest.mark.parametrize("url", [*BINANCE_TEST, "http://127.0.0.1:9999"])
def test_binance_test_and_local_urls_need_no_opt_in(url: str) -> None:
    s = Settings()
    s.trading.binance_url = url
    assert hedge_venue_url(s, LOCAL_HL, "http://127.0.0.1:8765") == (url, "trading.binance_url")


def test_bad_binance_url_turns_the_leg_off_with_a_reason() -> None:
    s = Settings()
    s.trading.binance_url = "ftp://key:hunter2@fapi.binance.com"
    got, why = hedge_venue_url(s, LOCAL_HL, "http://127.0.0.1:8765")
    assert got is None and "trading.binance_url" in why and "hunter2" not in why


def test_automatic_pairing_follows_the_canonical_hyperliquid_network() -> None:
    s = _settings("https://API.Hyperliquid.xyz./", network="testnet")
    endpoint = resolve_endpoint(s)
    got, why = hedge_venue_url(s, endpoint, endpoint.http_url or "")
    assert got is None and "allow_mainnet" in why
    s.trading.allow_mainnet = True
    assert hedge_venue_url(s, endpoint, endpoint.http_url or "")[0] == "https://fapi.binance.com"
    t = _settings("https://api.hyperliquid-testnet.xyz.:443")
    endpoint = resolve_endpoint(t)
    assert hedge_venue_url(t, endpoint, endpoint.http_url or "")[0] == BINANCE_TESTNET_URL
    local = _settings("http://LOCALHOST:8765")
    endpoint = resolve_endpoint(local)
    assert hedge_venue_url(local, endpoint, endpoint.http_url or "")[1] == "the simulator's Binance endpoints"


# --------------------------------------------------------------------------- pfterm kill


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Fail on any name lookup or connection (the refusal must come before both)."""
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("network access in a test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


@pytest.fixture
def root_logging():
    """``pfterm kill`` points the root logger at its log file; put it back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for h in root.handlers:
        if h not in handlers:
            h.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def _kill(tmp_path: Path, url: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from pfterm.tui.cli import main

    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[trading]\njournal = "{tmp_path / "journal.sqlite"}"\n')
    code = main(["kill", "--config", str(cfg), "--url", f"hyperliquid={url}", "--log-file", str(tmp_path / "log")])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("url", ["https://API.Hyperliquid.xyz./", "mainnet", "https://api.hyperliquid.xyz:443"])
def test_pfterm_kill_refuses_mainnet_spellings_before_any_connection(
    url: str, tmp_path: Path, key_env: str, capsys: pytest.CaptureFixture[str], no_network: list[object], root_logging
) -> None:
    code, out, err = _kill(tmp_path, url, capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("pfterm kill: error: read-only: ")
    assert "trading.allow_mainnet" in err and "Traceback" not in err
    assert key_env[2:] not in err + out
    assert no_network == []
    assert not (tmp_path / "journal.sqlite").exists()  # refused before the trader opened anything


def test_pfterm_kill_bad_url_is_one_line(
    tmp_path: Path, key_env: str, capsys: pytest.CaptureFixture[str], no_network: list[object], root_logging
) -> None:
    code, out, err = _kill(tmp_path, "ftp://user:hunter2@api.hyperliquid.xyz", capsys)
    assert code == 2 and out == "" and err.count("\n") == 1 and err.startswith("pfterm: error: ")
    assert "hunter2" not in err and no_network == []
