"""Keep third-party URLs away from loopback, private, link-local and cloud-metadata addresses."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

import httpcore

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class BlockedAddress(Exception):
    """The URL resolves to an address that third-party links must not reach."""


class AllowList:
    """Hosts and networks that may be reached even though they are not public (e.g. a test server)."""

    def __init__(self, entries: Iterable[str] = ()) -> None:
        self.hosts: set[str] = set()
        self.networks: list[Network] = []
        for entry in entries:
            entry = entry.strip().lower()
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.hosts.add(entry.rstrip("."))

    def allows(self, host: str, address: IPAddress | None = None) -> bool:
        if host.lower().rstrip(".") in self.hosts:
            return True
        return address is not None and any(address in net for net in self.networks)


def is_public(address: IPAddress) -> bool:
    """True for globally routable unicast addresses only (metadata 169.254.169.254 is link-local)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


async def check_url(url: str, allow: AllowList) -> None:
    """Raise BlockedAddress unless every address the URL's host resolves to may be reached."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise BlockedAddress(f"scheme {parts.scheme!r} is not fetched")
    host = parts.hostname
    if not host:
        raise BlockedAddress("URL has no host")
    refuse_non_public(host, await resolve(host, parts.port or (443 if parts.scheme == "https" else 80)), allow)


def refuse_non_public(host: str, addresses: list[IPAddress], allow: AllowList) -> None:
    """Raise BlockedAddress if any address of `host` is non-public and not allow-listed."""
    for address in addresses:
        if not is_public(address) and not allow.allows(host, address):
            raise BlockedAddress(f"{host} resolves to non-public address {address}")


async def resolve(host: str, port: int) -> list[IPAddress]:
    """All addresses a host name resolves to (an IP literal resolves to itself)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise BlockedAddress(f"{host} does not resolve: {exc}") from None
    return [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network layer with the guard at connect time: the host is resolved here and the socket opened
    to an address that passed the check, so a DNS answer that changes between a check and the connection
    (DNS rebinding) cannot reach a private address. TLS still verifies the certificate for the host name."""

    def __init__(self, allow: AllowList, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.allow = allow
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[object] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await resolve(host, port)
        refuse_non_public(host, addresses, self.allow)
        error: Exception = BlockedAddress(f"{host} has no address")
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    str(address), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )  # type: ignore[arg-type]
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[object] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddress("unix sockets are never fetched")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)
