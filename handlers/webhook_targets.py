"""Where webhooks may be sent: public internet addresses only, unless the operator allows a host.

A callback URL could otherwise make the worker a proxy into the platform's own network (the
database, Redis, the cloud metadata service). So a target is checked when it is subscribed (its
literal address in every spelling, or the addresses its name resolves to) and again at every
delivery, on the addresses resolved then; the delivery connects to an address it checked
(``resolve`` returns them), so a second resolution cannot swap in another (DNS rebinding).

``WEBHOOK_ALLOWED_HOSTS`` lets named internal receivers through: host names (``hooks.intranet``),
``host:port``, addresses (``10.1.2.3``, ``[fd00::7]:8443``) and networks (``10.20.0.0/16``).
"""
import ipaddress
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .errors import DomainError

MAX_URL = 500
BAD_URL = f"回调地址必须是 http(s) 网址（不超过 {MAX_URL} 个字符）"
REFUSED = "回调地址不允许：不能指向本机、内网、链路本地、组播或保留地址（如确需推送到内网，请管理员将该主机加入允许列表）"
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(Exception):
    """The target resolves to an address webhooks may not reach (logged, never shown in detail)."""


@dataclass(frozen=True)
class Target:
    """A parsed callback URL."""
    tls: bool
    host: str       # lower case, without brackets or a trailing dot
    port: int
    path: str       # path and query, as sent in the request line


def parse(url: str) -> Target:
    """The callback URL's parts; a URL that is not plain http(s) is refused naming ``url``."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL or any(c.isspace() or not c.isprintable() for c in url):
        raise DomainError(BAD_URL, "url")
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:   # "http://[::1", a port out of range or not a number
        raise DomainError(BAD_URL, "url") from None
    if parts.scheme not in ("http", "https") or not host:
        raise DomainError(BAD_URL, "url")
    if parts.username is not None or parts.password is not None:
        raise DomainError("回调地址不能包含用户名或密码", "url")
    tls = parts.scheme == "https"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(tls, host.rstrip(".").lower(), port or (443 if tls else 80), path)


def literal(host: str) -> Address | None:
    """The address a host written as one stands for, in every spelling the resolver accepts
    (``127.1``, ``2130706433``, ``0x7f000001``, ``0177.0.0.1``, ``::ffff:127.0.0.1``)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefx." for c in host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def is_public(address: Address) -> bool:
    """A global unicast address, also when an IPv6 address only wraps an IPv4 one."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return is_public(embedded)
    return address.is_global and not (address.is_private or address.is_loopback or address.is_link_local
                                      or address.is_multicast or address.is_reserved or address.is_unspecified)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address behind IPv4-mapped, IPv4-compatible, 6to4 and NAT64 (64:ff9b::/96) forms."""
    if address.ipv4_mapped or address.sixtofour:
        return address.ipv4_mapped or address.sixtofour
    value = int(address)
    if value >> 32 == 0 or value >> 32 == 0x64FF9B << 64:
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    return None


@dataclass(frozen=True)
class AllowList:
    """The operator's internal hosts webhooks may reach: names, addresses or networks, with an
    optional port (``None``: any port)."""
    names: frozenset = field(default_factory=frozenset)        # {(host, port or None)}
    networks: tuple = ()                                       # ((network, port or None), ...)

    @classmethod
    def parse(cls, text: str | list | None) -> "AllowList":
        entries = [e.strip() for e in (text.replace(",", " ").split() if isinstance(text, str) else text or [])]
        names, networks = set(), []
        for entry in filter(None, entries):
            host, port = _split_entry(entry)
            if "/" in host:
                networks.append((ipaddress.ip_network(host, strict=False), port))
            elif literal(host) is not None:
                networks.append((ipaddress.ip_network(literal(host)), port))
            else:
                names.add((host.rstrip(".").lower(), port))
        return cls(frozenset(names), tuple(networks))

    def names_host(self, host: str, port: int) -> bool:
        return (host, None) in self.names or (host, port) in self.names

    def covers(self, address: Address, port: int) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        return any(address in net and p in (None, port) for net, p in self.networks)


def _split_entry(entry: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]``, ``[v6]:port``, a bare IPv6 address or a network."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
    elif entry.count(":") == 1:
        host, port = entry.split(":")
    else:
        host, port = entry, None
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"WEBHOOK_ALLOWED_HOSTS: bad port in {entry!r}")
    if not host:
        raise ValueError(f"WEBHOOK_ALLOWED_HOSTS: no host in {entry!r}")
    return host, int(port) if port is not None else None


def check_subscribed(target: Target, allowed: AllowList) -> None:
    """Refuse (naming ``url``) a target that is or resolves to an address webhooks may not reach.
    A name that does not resolve yet is accepted: every delivery checks it again."""
    if allowed.names_host(target.host, target.port):
        return
    if target.host in _LOCAL_NAMES or target.host.endswith(".localhost"):
        raise DomainError(REFUSED, "url")
    address = literal(target.host)
    try:
        addresses = [address] if address is not None else _lookup(target.host, target.port)
    except OSError:
        return
    if not all(_reachable(a, target.port, allowed) for a in addresses):
        raise DomainError(REFUSED, "url")


def resolve(target: Target, allowed: AllowList) -> list[Address]:
    """The addresses to connect to, each checked; TargetRefused if any is not allowed (a name
    that resolves partly inside the network is refused whole), OSError if it does not resolve."""
    address = literal(target.host)
    addresses = [address] if address is not None else _lookup(target.host, target.port)
    if not addresses:
        raise OSError("no address")
    if not allowed.names_host(target.host, target.port):
        refused = [a for a in addresses if not _reachable(a, target.port, allowed)]
        if refused or target.host in _LOCAL_NAMES or target.host.endswith(".localhost"):
            raise TargetRefused(f"{target.host} -> {', '.join(map(str, refused or addresses))}")
    return addresses


def _reachable(address: Address, port: int, allowed: AllowList) -> bool:
    return is_public(address) or allowed.covers(address, port)


def _lookup(host: str, port: int) -> list[Address]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except UnicodeError as e:   # a label the IDNA codec refuses
        raise OSError(str(e)) from None
    found = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0].split("%")[0])
        if address not in found:
            found.append(address)
    return found
