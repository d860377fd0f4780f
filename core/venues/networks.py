"""Which network a venue URL reaches, decided from the parsed URL, never from its spelling.

The trading gate (``trading.allow_mainnet``) must not be passed by writing the same address
differently: ``https://API.Hyperliquid.xyz:443``, ``https://api.hyperliquid.xyz./``,
``http://user@api.hyperliquid.xyz/info`` and the alias ``mainnet`` all reach Hyperliquid
mainnet. A URL is therefore reduced to a :class:`VenueAddress` (scheme, canonical host, port)
before it is classified, with no DNS lookup:

* the scheme is case-folded and must be ``http``, ``https``, ``ws`` or ``wss``;
* the host is percent-decoded, IDNA-mapped to its ASCII form (which also folds case and
  full-width letters and dots), and loses its trailing dot(s); userinfo is ignored;
* the scheme's default port (80 for http/ws, 443 for https/wss) equals no port;
* the path, query and fragment do not take part in the decision.

Classification is conservative: every host under a venue's production domain is production
unless it is one of that venue's documented test hosts.

* Hyperliquid (https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api): mainnet
  ``api.hyperliquid.xyz`` (REST and ``/ws``), testnet ``api.hyperliquid-testnet.xyz``.
* Binance USDⓈ-M futures
  (https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info):
  production ``fapi.binance.com`` and ``fstream.binance.com``; testnet
  ``testnet.binancefuture.com`` and ``stream.binancefuture.com`` / ``fstream.binancefuture.com``,
  and the demo-trading hosts ``demo-fapi.binance.com`` / ``demo-fstream.binance.com`` that
  Binance's own connector uses as its futures test base
  (https://github.com/binance/binance-connector-python, ``binance_common/constants.py``).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote, urlsplit

__all__ = [
    "BINANCE_PRODUCTION_DOMAINS",
    "BINANCE_TEST_DOMAINS",
    "BINANCE_TEST_HOSTS",
    "HYPERLIQUID_MAINNET_DOMAIN",
    "HYPERLIQUID_TESTNET_DOMAIN",
    "Network",
    "VenueAddress",
    "binance_futures_network",
    "hyperliquid_alias",
    "hyperliquid_network",
    "parse_venue_url",
]

Network = Literal["mainnet", "testnet", "local", "other"]
"""Where a URL leads: the venue's production network (``"mainnet"``, Binance's production for
Binance), its test network (``"testnet"``), this machine (``"local"``: a loopback address), or
anywhere else (``"other"``)."""

HYPERLIQUID_MAINNET_DOMAIN = "hyperliquid.xyz"
"""Hyperliquid's mainnet domain: ``api.hyperliquid.xyz`` and every other host under it."""

HYPERLIQUID_TESTNET_DOMAIN = "hyperliquid-testnet.xyz"
"""Hyperliquid's testnet domain (``api.hyperliquid-testnet.xyz``)."""

BINANCE_PRODUCTION_DOMAINS = ("binance.com",)
"""Binance's production domain: ``fapi.binance.com``, ``fstream.binance.com`` and every other host
under it except :data:`BINANCE_TEST_HOSTS`."""

BINANCE_TEST_DOMAINS = ("binancefuture.com",)
"""Binance futures testnet domain (``testnet.binancefuture.com``, ``stream.binancefuture.com``,
``fstream.binancefuture.com``)."""

BINANCE_TEST_HOSTS = frozenset({"demo-fapi.binance.com", "demo-fstream.binance.com"})
"""Binance USDⓈ-M demo-trading hosts (REST, streams): test money under the production domain."""

_SCHEMES = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_ALIASES = ("mainnet", "testnet")
# RFC 3986 authority characters (plus non-ASCII, mapped by IDNA below); anything else (a
# backslash, whitespace, a control character) is read differently by different URL parsers
_AUTHORITY_OK = re.compile(r"^[A-Za-z0-9\-._~!$&'()*+,;=:@\[\]%\u0080-\U0010ffff]*$")
_DOTS = ".\u3002\uff0e\uff61"  # full stop, ideographic, full-width, half-width ideographic


@dataclass(slots=True, frozen=True)
class VenueAddress:
    """A venue URL reduced to what decides where it leads.

    * ``scheme``: ``"http"``, ``"https"``, ``"ws"`` or ``"wss"`` (lower case);
    * ``host``: the ASCII host in lower case, without trailing dot (IPv6 without brackets);
    * ``port``: the port, ``None`` when it is the scheme's default (80 or 443) or absent;
    * ``path``: the URL's path as written (not used to classify).
    """

    scheme: str
    host: str
    port: int | None
    path: str

    @property
    def netloc(self) -> str:
        """``host`` or ``host:port`` (an IPv6 host in brackets), without userinfo."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        """True for ``localhost`` (and ``*.localhost``), 127.0.0.0/8 and ``::1``."""
        if self.host == "localhost" or self.host.endswith(".localhost"):
            return True
        try:
            ip = ipaddress.ip_address(self.host)
        except ValueError:
            return False
        mapped = getattr(ip, "ipv4_mapped", None)
        return ip.is_loopback or (mapped is not None and mapped.is_loopback)

    def under(self, domain: str) -> bool:
        """True when ``host`` is ``domain`` or a host under it (``domain`` in lower case)."""
        return self.host == domain or self.host.endswith("." + domain)


def _shown(url: str) -> str:
    """``url`` for an error message: one line, userinfo removed, at most 120 characters."""
    text = re.sub(r"//[^/?#]*@", "//", url)
    text = text if len(text) <= 120 else text[:117] + "..."
    return repr(text)


def _canonical_host(raw: str, url: str) -> str:
    host = unquote(raw).rstrip(_DOTS)
    if not host:
        raise ValueError(f"no host in the URL {_shown(url)}")
    if host.startswith("[") or ":" in host:  # an IPv6 literal (urllib removed the brackets)
        try:
            return str(ipaddress.IPv6Address(host.strip("[]").split("%")[0]))
        except ValueError:
            raise ValueError(f"bad IPv6 host in the URL {_shown(url)}") from None
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        if not host.isascii():
            raise ValueError(f"host of the URL {_shown(url)} is not a valid domain name") from None
        ascii_host = host  # e.g. an over-long label: still compared by its domain suffix
    ascii_host = ascii_host.lower().rstrip(".")
    if not ascii_host or not _AUTHORITY_OK.match(ascii_host) or "@" in ascii_host or "%" in ascii_host:
        raise ValueError(f"host of the URL {_shown(url)} is not a valid domain name")
    return ascii_host


def parse_venue_url(url: str) -> VenueAddress:
    """Reduce ``url`` (surrounding whitespace allowed) to its :class:`VenueAddress`.

    No name is resolved: the decision is made on the text alone.

    Raises:
        ValueError: one line, without userinfo: not a string, no ``scheme://host``, a scheme
            other than http/https/ws/wss, a bad port, characters that URL parsers read
            differently (backslash, whitespace, a second ``@``), or a host that is not a name.
    """
    if not isinstance(url, str):
        raise ValueError(f"a venue URL must be text, not {type(url).__name__}")
    text = url.strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        raise ValueError(f"cannot parse the URL {_shown(text)}") from None
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise ValueError(f"not an http(s) or ws(s) URL: {_shown(text)}")
    if not parts.netloc:
        raise ValueError(f"no host in the URL {_shown(text)}")
    if not _AUTHORITY_OK.match(parts.netloc) or parts.netloc.count("@") > 1:
        raise ValueError(f"unexpected characters in the host part of the URL {_shown(text)}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"bad port in the URL {_shown(text)}") from None
    host = _canonical_host(parts.hostname or "", text)
    if port == _SCHEMES[scheme]:
        port = None
    return VenueAddress(scheme, host, port, parts.path)


def hyperliquid_alias(value: str) -> Literal["mainnet", "testnet"] | None:
    """``"mainnet"`` / ``"testnet"`` when ``value`` is that network's name (any case, surrounding
    whitespace allowed), else ``None`` (``value`` should then be a URL)."""
    name = value.strip().lower() if isinstance(value, str) else ""
    return name if name in _ALIASES else None  # type: ignore[return-value]


def hyperliquid_network(url: str) -> Network:
    """Which Hyperliquid network ``url`` (a REST or WebSocket URL, or an alias) reaches.

    ``"mainnet"`` for the alias ``mainnet`` and any host under ``hyperliquid.xyz``;
    ``"testnet"`` for the alias ``testnet`` and any host under ``hyperliquid-testnet.xyz``;
    ``"local"`` for a loopback host; ``"other"`` otherwise.
    Source: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api

    Raises:
        ValueError: as :func:`parse_venue_url` (one line).
    """
    alias = hyperliquid_alias(url)
    if alias is not None:
        return alias
    addr = parse_venue_url(url)
    if addr.under(HYPERLIQUID_TESTNET_DOMAIN):
        return "testnet"
    if addr.under(HYPERLIQUID_MAINNET_DOMAIN):
        return "mainnet"
    return "local" if addr.is_loopback else "other"


def binance_futures_network(url: str) -> Network:
    """Which Binance USDⓈ-M futures network ``url`` (REST or stream) reaches.

    ``"mainnet"`` (Binance production) for any host under ``binance.com`` except the demo hosts
    :data:`BINANCE_TEST_HOSTS`; ``"testnet"`` for those and any host under ``binancefuture.com``;
    ``"local"`` for a loopback host; ``"other"`` otherwise.
    Source: https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info

    Raises:
        ValueError: as :func:`parse_venue_url` (one line).
    """
    addr = parse_venue_url(url)
    if addr.host in BINANCE_TEST_HOSTS or any(addr.under(d) for d in BINANCE_TEST_DOMAINS):
        return "testnet"
    if any(addr.under(d) for d in BINANCE_PRODUCTION_DOMAINS):
        return "mainnet"
    return "local" if addr.is_loopback else "other"
