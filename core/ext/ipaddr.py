"""Cedar's `ipaddr` extension type: an IPv4 or IPv6 address with a prefix length.

Parsing follows Cedar 4.x, which splits at the first `/` and reads the address with Rust's
`std::net` rules: IPv4 octets without leading zeros, IPv6 groups of one to four hex digits
with at most one `::`, and no IPv4 embedded in IPv6. The address is kept as written, not
masked, because Cedar's equality compares it and the prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

from cedar_smt.core.errors import ExtensionError

MAX_TEXT_BYTES = 43  # len("ABCD:EF01:2345:6789:ABCD:EF01:2345:6789/128")
_HEX = frozenset("0123456789abcdefABCDEF")


@dataclass(frozen=True, slots=True)
class IPAddr:
    """An address (`addr`, as an unsigned integer) and the length of its network prefix."""

    is_v6: bool
    addr: int
    prefix: int

    @property
    def width(self) -> int:
        return 128 if self.is_v6 else 32

    def is_ipv4(self) -> bool:
        return not self.is_v6

    def is_ipv6(self) -> bool:
        return self.is_v6

    def network(self) -> int:
        """The lowest address of the range."""
        host_bits = self.width - self.prefix
        return self.addr >> host_bits << host_bits

    def broadcast(self) -> int:
        """The highest address of the range."""
        return self.addr | ((1 << (self.width - self.prefix)) - 1)

    def is_in_range(self, other: IPAddr) -> bool:
        """Holds iff both have the same version and `other`'s range covers this range."""
        return (
            self.is_v6 == other.is_v6
            and other.network() <= self.network()
            and self.broadcast() <= other.broadcast()
        )

    def is_loopback(self) -> bool:
        return self.is_in_range(_LOOPBACK_V6 if self.is_v6 else _LOOPBACK_V4)

    def is_multicast(self) -> bool:
        return self.is_in_range(_MULTICAST_V6 if self.is_v6 else _MULTICAST_V4)

    def __str__(self) -> str:
        text = _format_v6(self.addr) if self.is_v6 else _format_v4(self.addr)
        return f"{text}/{self.prefix}"

    def to_cedar(self) -> str:
        return f'ip("{self}")'

    def to_json(self) -> dict[str, str]:
        return {"fn": "ip", "arg": str(self)}


def parse_ip(s: str) -> IPAddr:
    """The address or range written `s`, or an `ExtensionError` as Cedar's `ip` would raise."""
    if len(s.encode()) > MAX_TEXT_BYTES:
        raise ExtensionError(f"ip address `{s}` is too long: at most {MAX_TEXT_BYTES} bytes")
    # Every IPv6 text with IPv4 embedded has at least two colons and three dots, so this
    # check (Cedar's) leaves `_parse_v6` only plain hex groups to read.
    if s.count(":") >= 2 and s.count(".") >= 2:
        raise ExtensionError(f"ipv4 embedded in ipv6 is not supported: `{s}`")
    text, slash, prefix_text = s.partition("/")
    v4 = _parse_v4(text)
    v6 = _parse_v6(text) if v4 is None else None
    if v4 is not None:
        is_v6, addr, width = False, v4, 32
    elif v6 is not None:
        is_v6, addr, width = True, v6, 128
    else:
        raise ExtensionError(f"invalid ip address `{text}`")
    prefix = _parse_prefix(prefix_text, width, s) if slash else width
    return IPAddr(is_v6=is_v6, addr=addr, prefix=prefix)


def _parse_prefix(text: str, width: int, s: str) -> int:
    """The prefix length after the `/` of `s`: plain decimal, at most `width`."""
    where = f"invalid prefix `{text}` in `{s}`"
    if len(text.encode()) > len(str(width)):
        raise ExtensionError(f"{where}: too many characters")
    if not text:
        raise ExtensionError(f"{where}: empty")
    if not (text.isascii() and text.isdigit()):
        raise ExtensionError(f"{where}: not a decimal number")
    if text.startswith("0") and text != "0":
        raise ExtensionError(f"{where}: leading zeros")
    if int(text) > width:
        raise ExtensionError(f"{where}: larger than {width}")
    return int(text)


def _parse_v4(text: str) -> int | None:
    """Rust's `Ipv4Addr` syntax: four decimal octets, no leading zeros."""
    parts = text.split(".")
    if len(parts) != 4:
        return None
    addr = 0
    for part in parts:
        if not (1 <= len(part) <= 3 and part.isascii() and part.isdigit()):
            return None
        if (part.startswith("0") and part != "0") or int(part) > 255:
            return None
        addr = addr << 8 | int(part)
    return addr


def _parse_v6(text: str) -> int | None:
    """Rust's `Ipv6Addr` syntax without embedded IPv4: eight groups, or fewer around a `::`
    that stands for at least one zero group."""
    head_text, gap, tail_text = text.partition("::")
    head = _parse_groups(head_text)
    tail = _parse_groups(tail_text) if gap else []
    if head is None or tail is None:
        return None
    if (gap and len(head) + len(tail) > 7) or (not gap and len(head) != 8):
        return None
    groups = head + [0] * (8 - len(head) - len(tail)) + tail
    addr = 0
    for group in groups:
        addr = addr << 16 | group
    return addr


def _parse_groups(text: str) -> list[int] | None:
    if not text:
        return []
    groups = []
    for part in text.split(":"):
        if not (1 <= len(part) <= 4 and all(c in _HEX for c in part)):
            return None
        groups.append(int(part, 16))
    return groups


def _format_v4(addr: int) -> str:
    return ".".join(str(addr >> shift & 0xFF) for shift in (24, 16, 8, 0))


def _format_v6(addr: int) -> str:
    """RFC 5952 text: lowercase, the longest run of two or more zero groups as `::`."""
    groups = [addr >> shift & 0xFFFF for shift in range(112, -16, -16)]
    best_start, best_len, start = -1, 1, None
    for i, group in enumerate([*groups, 1]):
        if group == 0 and start is None:
            start = i
        elif group != 0 and start is not None:
            if i - start > best_len:
                best_start, best_len = start, i - start
            start = None
    if best_start < 0:
        return ":".join(f"{g:x}" for g in groups)
    head = ":".join(f"{g:x}" for g in groups[:best_start])
    tail = ":".join(f"{g:x}" for g in groups[best_start + best_len :])
    return f"{head}::{tail}"


_LOOPBACK_V4 = parse_ip("127.0.0.0/8")
_LOOPBACK_V6 = parse_ip("::1/128")
_MULTICAST_V4 = parse_ip("224.0.0.0/4")
_MULTICAST_V6 = parse_ip("ff00::/8")
