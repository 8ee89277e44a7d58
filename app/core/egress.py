"""Egress policy for user-supplied URLs (targets, webhooks), configured by the operator."""

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


def address_class(ip: IPAddress) -> str:
    """Classify an address; mapped IPv4-in-IPv6 is judged as the IPv4 it carries."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_private or ip.is_reserved or ip.is_multicast or ip.is_unspecified:
        return "private"
    return "public"


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
        if any(ip in net for net in self.networks):
            return True
        return address_class(ip) in self.classes

    def check_url(self, url: str, *, field: str = "url") -> None:
        """Raise EgressDenied unless every address the host resolves to is allowed."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise EgressDenied(f"{field} must be an http(s) URL with a host", field=field)
        try:
            infos = socket.getaddrinfo(parts.hostname, parts.port or 0, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise EgressDenied(f"{field}: cannot resolve host {parts.hostname!r}", field=field) from exc
        for info in infos:
            ip = ipaddress.ip_address(info[4][0].split("%")[0])
            if not self.allows_ip(ip):
                raise EgressDenied(
                    f"{field}: host {parts.hostname!r} resolves to a {address_class(ip)} "
                    "address the egress policy does not allow",
                    field=field,
                )

    async def acheck_url(self, url: str, *, field: str = "url") -> None:
        await asyncio.to_thread(self.check_url, url, field=field)
