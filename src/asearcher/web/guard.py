"""Address guard for model-chosen URLs: which URLs and resolved addresses the access tool may connect to.

Used by ``web.fetch`` before every request and every redirect hop. The decision is a pure function of the URL
and the addresses its host resolved to (``AddressGuard.parse`` then ``AddressGuard.check_addresses``), so it is
tested without a network. Resolution goes through an injectable ``Resolver``; the fetcher then connects to the
very address that was checked (no second lookup, so DNS rebinding cannot swap it).

Refused by default: schemes other than http(s); user:password@ in the URL; malformed hosts and ports; the names
``localhost``/``*.localhost`` and cloud-metadata names; and any address that is loopback, private, link-local,
carrier-grade NAT, multicast, reserved, unspecified or a cloud-metadata endpoint — also when embedded in an IPv6
form (IPv4-mapped, IPv4-compatible, 6to4, Teredo, NAT64). An explicit allow-list (hosts and/or CIDRs) opts in.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx

from asearcher.errors import ConfigError, ToolError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean …
    "169.254.170.2",  # AWS ECS task metadata
    "100.100.100.200",  # Alibaba Cloud
    "fd00:ec2::254",  # AWS IPv6
))
BLOCKED_NAMES = frozenset({
    "localhost", "metadata", "metadata.google.internal", "metadata.goog", "instance-data",
    "instance-data.ec2.internal",
})
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPAT = ipaddress.ip_network("::/96")
_HOST_RE = re.compile(r"^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$")


class GuardError(ToolError):
    """A URL or address the access tool refuses to open (shown to the model as an observation)."""

    def __init__(self, url: str, reason: str):
        super().__init__(f"refused to open {url}: {reason} (the access tool only opens public http(s) pages)")
        self.url, self.reason = url, reason


@dataclass(frozen=True)
class Target:
    """A parsed, syntactically acceptable URL."""

    url: httpx.URL
    """The URL without fragment."""
    host: str
    """Lower-case ASCII host (IDNA-encoded), no brackets, no trailing dot."""
    port: int
    ip: IPAddress | None
    """Set when the host is an IP literal (including legacy forms such as ``2130706433`` or ``0x7f.1``)."""


def address_refusal(ip: IPAddress) -> str | None:
    """Why ``ip`` must not be contacted (None = public address). Embedded IPv4 forms are unwrapped."""
    if ip in METADATA_ADDRESSES:
        return f"{ip} is a cloud-metadata endpoint"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            inner = address_refusal(embedded)
            if inner is not None:
                return f"{ip} embeds {inner}"
    checks = (
        (ip.is_loopback, "loopback"), (ip.is_link_local, "link-local"), (ip.is_unspecified, "unspecified"),
        (ip.version == 4 and ip in _CGNAT, "carrier-grade NAT (shared)"), (ip.is_multicast, "multicast"),
        (ip.is_private, "private"), (ip.is_reserved, "reserved"),
        (getattr(ip, "is_site_local", False), "site-local"), (not ip.is_global, "not globally routable"),
    )
    for hit, kind in checks:
        if hit:
            return f"{ip} is a {kind} address"
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, compatible, 6to4, Teredo client, NAT64)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in net for net in _NAT64) or (ip in _IPV4_COMPAT and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def parse_ip_literal(host: str) -> IPAddress | None:
    """``host`` as an IP address if it is one — including legacy IPv4 spellings that resolvers accept
    (``127.1``, ``0x7f.0.0.1``, ``017700000001``, ``2130706433``); None for a DNS name. Pure (no lookup)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if re.fullmatch(r"[0-9a-fx.]+", host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


class AddressGuard:
    """The allow/deny policy. ``allow_hosts`` (exact names or IP literals, case-insensitive) skip the name and
    address checks for that host; an address inside ``allow_cidrs`` passes the address check. Cloud-metadata
    addresses are only reachable through a CIDR that contains them, never through a host allowance."""

    def __init__(self, allow_hosts: Iterable[str] = (), allow_cidrs: Iterable[str] = ()):
        self.allow_hosts = frozenset(h.strip().lower().rstrip(".").strip("[]") for h in allow_hosts if h.strip())
        try:
            self.allow_cidrs: tuple[IPNetwork, ...] = tuple(
                ipaddress.ip_network(c.strip(), strict=False) for c in allow_cidrs
            )
        except ValueError as e:
            raise ConfigError(f"web.allow_cidrs: {e} (expected CIDRs like 127.0.0.1/32 or 10.0.0.0/8)") from None

    def parse(self, url: str) -> Target:
        """Syntax and name checks; raises ``GuardError``. No network."""
        shown = url if len(url) <= 200 else url[:200] + "…"
        try:
            u = httpx.URL(url.strip())
        except (httpx.InvalidURL, TypeError, ValueError) as e:
            raise GuardError(shown, f"malformed URL ({e})") from None
        if u.scheme not in ("http", "https"):
            raise GuardError(shown, f"scheme {u.scheme or '(none)'!r} is not http or https")
        if u.userinfo:
            raise GuardError(shown, "credentials in the URL (user@host) are not allowed")
        host = u.raw_host.decode("ascii", "replace").lower().rstrip(".")
        if not host:
            raise GuardError(shown, "the URL has no host")
        port = u.port or (443 if u.scheme == "https" else 80)
        if not 0 < port < 65536:
            raise GuardError(shown, f"port {port} is out of range")
        ip = parse_ip_literal(host)
        if ip is None and not _HOST_RE.match(host):
            raise GuardError(shown, f"host {host!r} is not a valid DNS name or IP address")
        target = Target(url=u.copy_with(fragment=None), host=host, port=port, ip=ip)
        if self._host_allowed(target):
            return target
        if ip is None and (host in BLOCKED_NAMES or host.endswith(".localhost")):
            raise GuardError(shown, f"host {host!r} is a local or cloud-metadata name")
        return target

    def check_addresses(self, target: Target, addresses: Sequence[str | IPAddress]) -> list[IPAddress]:
        """Every address ``target.host`` resolved to must pass; returns them parsed. Raises ``GuardError``."""
        shown = str(target.url)
        if not addresses:
            raise GuardError(shown, f"host {target.host!r} resolved to no address")
        ips: list[IPAddress] = []
        for a in addresses:
            try:
                ip = a if isinstance(a, ipaddress.IPv4Address | ipaddress.IPv6Address) else ipaddress.ip_address(
                    str(a).split("%")[0])
            except ValueError:
                raise GuardError(shown, f"resolver returned a non-address {a!r}") from None
            reason = self._refusal(target, ip)
            if reason is not None:
                raise GuardError(shown, reason)
            ips.append(ip)
        return ips

    def decide(self, url: str, addresses: Sequence[str | IPAddress] | None = None) -> list[IPAddress]:
        """The whole decision as a pure function: parse ``url``, then check the IP literal or ``addresses``
        (what its host resolved to). Returns the addresses it may connect to; raises ``GuardError``."""
        target = self.parse(url)
        return self.check_addresses(target, [target.ip] if target.ip is not None else list(addresses or []))

    def _host_allowed(self, target: Target) -> bool:
        return target.host in self.allow_hosts or (target.ip is not None and str(target.ip) in self.allow_hosts)

    def _refusal(self, target: Target, ip: IPAddress) -> str | None:
        if any(ip in net for net in self.allow_cidrs if net.version == ip.version):
            return None
        if ip in METADATA_ADDRESSES or (isinstance(ip, ipaddress.IPv6Address)
                                        and _embedded_ipv4(ip) in METADATA_ADDRESSES):
            return address_refusal(ip)
        if self._host_allowed(target):
            return None
        reason = address_refusal(ip)
        if reason is not None and target.ip is None:
            reason = f"host {target.host!r} resolves to a refused address: {reason}"
        return reason


class Resolver(Protocol):
    """Host name → IP address strings. Tests inject a table-driven one; never resolves IP literals."""

    async def resolve(self, host: str, port: int) -> list[str]:
        ...


class SystemResolver:
    """The operating system's resolver (``getaddrinfo``), bounded by a timeout."""

    def __init__(self, timeout_s: float = 10.0):
        self.timeout_s = timeout_s

    async def resolve(self, host: str, port: int) -> list[str]:
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP), self.timeout_s)
        except (OSError, TimeoutError):
            return []
        seen: dict[str, None] = {}
        for info in infos:
            seen.setdefault(str(info[4][0]), None)
        return list(seen)


async def resolve_checked(guard: AddressGuard, target: Target, resolver: Resolver) -> list[IPAddress]:
    """Resolve ``target`` (IP literals are not looked up) and check ALL its addresses."""
    if target.ip is not None:
        return guard.check_addresses(target, [target.ip])
    addresses = await resolver.resolve(target.host, target.port)
    if not addresses:
        raise ToolError(f"cannot open {target.url}: the host {target.host!r} could not be resolved")
    return guard.check_addresses(target, addresses)
