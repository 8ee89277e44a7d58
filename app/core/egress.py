"""Egress policy for user-supplied URLs (targets, webhooks), configured by the operator.

A URL is checked by resolving its host and classifying every address; the connection then goes
to the address that was checked (`app.core.pinned.PinnedTransport`), so DNS cannot change between
check and use. No httpx here: the API's start-up imports this module, not the HTTP client.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from app.errors import EgressDenied

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
CLASSES = ("public", "private", "loopback", "link-local")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries (mapped, compatible, 6to4, NAT64, Teredo client)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in NAT64 or ip in NAT64_LOCAL:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    packed = int(ip)
    if packed >> 32 == 0 and packed > 1:  # deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(packed)
    return None


def address_class(ip: IPAddress) -> str:
    """Classify an address; IPv6 forms that embed an IPv4 address are judged as that address.
    Unspecified addresses (0.0.0.0, ::) connect to this host, so they count as loopback."""
    inner = embedded_ipv4(ip)
    if inner is not None:
        ip = inner
    if ip.is_loopback or ip.is_unspecified or (isinstance(ip, ipaddress.IPv4Address)
                                               and ip in ipaddress.ip_network("0.0.0.0/8")):
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_private or ip.is_reserved or ip.is_multicast or not ip.is_global:
        return "private"
    return "public"


def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
        return [literal]
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    out: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if ip not in out:
            out.append(ip)
    return out


@dataclass(frozen=True)
class EgressPolicy:
    """Which resolved addresses a URL may reach: address classes plus explicit CIDRs."""

    classes: frozenset[str]
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, spec: str) -> EgressPolicy:
        classes: set[str] = set()
        nets: list[IPNetwork] = []
        for token in (t.strip() for t in spec.split(",")):
            if not token:
                continue
            if token in CLASSES:
                classes.add(token)
            elif token == "any":
                classes.update(CLASSES)
            else:
                try:
                    nets.append(ipaddress.ip_network(token, strict=False))
                except ValueError as exc:
                    raise ValueError(f"egress policy: unknown token {token!r}") from exc
        return cls(frozenset(classes), tuple(nets))

    def allows_ip(self, ip: IPAddress) -> bool:
        inner = embedded_ipv4(ip)
        if any(ip in net or (inner is not None and inner in net) for net in self.networks):
            return True
        return address_class(ip) in self.classes

    def check_url(self, url: str, *, field: str = "url") -> IPAddress:
        """Raise EgressDenied unless every address the host resolves to is allowed; returns the
        address to connect to."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise EgressDenied(f"{field} must be an http(s) URL with a host", field=field)
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise EgressDenied(f"{field}: invalid port", field=field) from None
        try:
            ips = resolve(parts.hostname, port)
        except (socket.gaierror, UnicodeError) as exc:
            raise EgressDenied(f"{field}: cannot resolve host {parts.hostname!r}", field=field) from exc
        if not ips:
            raise EgressDenied(f"{field}: host {parts.hostname!r} has no address", field=field)
        for ip in ips:
            if not self.allows_ip(ip):
                raise EgressDenied(
                    f"{field}: host {parts.hostname!r} resolves to a {address_class(ip)} "
                    "address the egress policy does not allow",
                    field=field,
                )
        return ips[0]

    async def acheck_url(self, url: str, *, field: str = "url") -> IPAddress:
        return await asyncio.to_thread(self.check_url, url, field=field)
