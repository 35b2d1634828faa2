"""Refuse webhook URLs that point inside the network (SSRF): loopback, private, link-local,
cloud metadata. Checked at start-up and again before every connection (DNS can change).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from streams.alerts.errors import WebhookRefused

__all__ = ["UrlGuard"]

_METADATA = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("169.254.170.2"),
    ipaddress.ip_address("fd00:ec2::254"),
    ipaddress.ip_address("100.100.100.200"),
}

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class UrlGuard:
    """Resolves a webhook host and refuses internal addresses unless allow-listed."""

    def __init__(self, allow_hosts: list[str]) -> None:
        self._names = {h.lower() for h in allow_hosts if not _is_net(h)}
        self._nets: list[Network] = [
            ipaddress.ip_network(h, strict=False) for h in allow_hosts if _is_net(h)
        ]

    def _allowed(self, host: str, addr: Address) -> bool:
        return host.lower() in self._names or any(addr in n for n in self._nets)

    def check(self, url: str) -> None:
        """Raise `WebhookRefused` when `url` resolves to a refused address."""
        parts = urlsplit(url)
        host = parts.hostname
        if parts.scheme not in ("http", "https") or not host:
            raise WebhookRefused(f"webhook URL must be http(s) with a host: {url!r}")
        try:
            infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
        except socket.gaierror as exc:
            raise WebhookRefused(f"webhook host {host!r} does not resolve: {exc}") from exc
        for info in infos:
            addr = ipaddress.ip_address(info[4][0])
            if self._allowed(host, addr):
                continue
            if addr in _METADATA:
                raise WebhookRefused(f"webhook host {host!r} resolves to a metadata address")
            if addr.is_loopback or addr.is_private or addr.is_link_local or addr.is_unspecified:
                raise WebhookRefused(
                    f"webhook host {host!r} resolves to internal address {addr}; "
                    "list it in MODELTRAIL_ALERTS__ALLOW_HOSTS to allow it"
                )


def _is_net(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True
