"""Cedar's extension types, case by case and against Cedar itself.

The tables state each parsing rule of Cedar 4.x as named cases: valid strings with their
values, invalid strings with the error they must raise. The differential tests send the same
strings, plus hypothesis-generated near-valid ones, through the Rust implementation (the
`cedarpy` bindings) and check that Cedar accepts exactly what we accept, agrees on the value,
and agrees on every operation for sampled values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from cedar_smt.core.errors import ExtensionError
from cedar_smt.core.ext.datetime import (
    Datetime,
    Duration,
    duration_since,
    offset,
    parse_datetime,
    parse_duration,
    to_date,
    to_time,
)
from cedar_smt.core.ext.decimal import Decimal, parse_decimal
from cedar_smt.core.ext.ipaddr import IPAddr, parse_ip

I64_MIN = -(2**63)
I64_MAX = 2**63 - 1
DAY = 86_400_000
YEAR_0 = -62_167_219_200_000  # 0000-01-01T00:00:00Z
YEAR_10000 = 253_402_300_800_000  # 10000-01-01T00:00:00Z

NOT_WELL_FORMED = "is not a well-formed decimal value"
TOO_MANY_DIGITS = "too many digits after the decimal"
DECIMAL_OVERFLOW = "overflow when converting"

# ---------------------------------------------------------------------------------------------
# decimal
# ---------------------------------------------------------------------------------------------

DECIMAL_VALID = [
    pytest.param("1.0", 10_000, id="one"),
    pytest.param("-1.0", -10_000, id="minus-one"),
    pytest.param("0.1234", 1_234, id="four-fraction-digits"),
    pytest.param("123.456", 1_234_560, id="fraction-scaled-up"),
    pytest.param("-0.0123", -123, id="negative-below-one"),
    pytest.param("-0.5", -5_000, id="minus-zero-whole-keeps-sign"),
    pytest.param("-0.0", 0, id="minus-zero"),
    pytest.param("1.0000", 10_000, id="trailing-zeros"),
    pytest.param("007.5", 75_000, id="leading-zeros"),
    pytest.param("-00.0001", -1, id="negative-leading-zeros"),
    pytest.param("0" * 30 + "1.0", 10_000, id="many-leading-zeros"),
    pytest.param("922337203685477.5807", I64_MAX, id="maximum"),
    pytest.param("-922337203685477.5808", I64_MIN, id="minimum"),
]

DECIMAL_INVALID = [
    pytest.param("", NOT_WELL_FORMED, id="empty"),
    pytest.param("1", NOT_WELL_FORMED, id="no-point"),
    pytest.param("1.", NOT_WELL_FORMED, id="no-fraction"),
    pytest.param(".5", NOT_WELL_FORMED, id="no-whole"),
    pytest.param("-.5", NOT_WELL_FORMED, id="minus-no-whole"),
    pytest.param("+1.0", NOT_WELL_FORMED, id="plus-sign"),
    pytest.param("--1.0", NOT_WELL_FORMED, id="double-minus"),
    pytest.param("1e3", NOT_WELL_FORMED, id="exponent"),
    pytest.param("1.0e3", NOT_WELL_FORMED, id="fraction-and-exponent"),
    pytest.param("1,0", NOT_WELL_FORMED, id="comma"),
    pytest.param("1.0.0", NOT_WELL_FORMED, id="two-points"),
    pytest.param(" 1.0", NOT_WELL_FORMED, id="leading-space"),
    pytest.param("1.0 ", NOT_WELL_FORMED, id="trailing-space"),
    pytest.param("1.0\n", NOT_WELL_FORMED, id="trailing-newline"),
    pytest.param('"1.0"', NOT_WELL_FORMED, id="quoted"),
    pytest.param("1\\.0", NOT_WELL_FORMED, id="backslash"),
    pytest.param("1.0\x00", NOT_WELL_FORMED, id="nul"),
    pytest.param("1.00000", TOO_MANY_DIGITS, id="five-fraction-digits"),
    pytest.param("0.12345", TOO_MANY_DIGITS, id="five-significant-fraction-digits"),
    pytest.param("922337203685477.5808", DECIMAL_OVERFLOW, id="above-maximum"),
    pytest.param("-922337203685477.5809", DECIMAL_OVERFLOW, id="below-minimum"),
    pytest.param("922337203685478.0", DECIMAL_OVERFLOW, id="whole-part-too-large"),
    pytest.param("99999999999999999999.00000", DECIMAL_OVERFLOW, id="whole-checked-before-digits"),
    pytest.param("9" * 5000 + ".0", DECIMAL_OVERFLOW, id="huge-whole-part"),
    pytest.param("١.0", DECIMAL_OVERFLOW, id="arabic-indic-whole-digit"),
    pytest.param("1.١", DECIMAL_OVERFLOW, id="arabic-indic-fraction-digit"),
    pytest.param("1.١١١", TOO_MANY_DIGITS, id="fraction-length-counts-bytes"),
    pytest.param("１.0", DECIMAL_OVERFLOW, id="fullwidth-digit"),
]

DECIMAL_TEXT = [
    pytest.param(0, "0.0000", id="zero"),
    pytest.param(1, "0.0001", id="smallest-positive"),
    pytest.param(-5_000, "-0.5000", id="negative-below-one"),
    pytest.param(10_500, "1.0500", id="inner-zero"),
    pytest.param(-10_000, "-1.0000", id="minus-one"),
    pytest.param(I64_MAX, "922337203685477.5807", id="maximum"),
    pytest.param(I64_MIN, "-922337203685477.5808", id="minimum"),
]


@pytest.mark.parametrize(("text", "value"), DECIMAL_VALID)
def test_decimal_parses(text: str, value: int) -> None:
    assert parse_decimal(text) == Decimal(value)


@pytest.mark.parametrize(("text", "message"), DECIMAL_INVALID)
def test_decimal_rejects(text: str, message: str) -> None:
    with pytest.raises(ExtensionError, match=message):
        parse_decimal(text)


@pytest.mark.parametrize(("value", "text"), DECIMAL_TEXT)
def test_decimal_renders(value: int, text: str) -> None:
    decimal = Decimal(value)
    assert str(decimal) == text
    assert decimal.to_cedar() == f'decimal("{text}")'
    assert decimal.to_json() == {"fn": "decimal", "arg": text}
    assert parse_decimal(text) == decimal


def test_decimal_orders_by_value() -> None:
    assert parse_decimal("-0.5") < parse_decimal("0.0") < parse_decimal("0.5")
    assert parse_decimal("-0.5") != parse_decimal("0.5")
    assert max(parse_decimal("1.5"), parse_decimal("1.25")) == parse_decimal("1.5")


def test_decimal_error_names_the_input() -> None:
    with pytest.raises(ExtensionError, match=r"`1\.2\.3`"):
        parse_decimal("1.2.3")


@given(st.integers(I64_MIN, I64_MAX))
def test_decimal_text_round_trips(value: int) -> None:
    assert parse_decimal(str(Decimal(value))) == Decimal(value)


# ---------------------------------------------------------------------------------------------
# ipaddr
# ---------------------------------------------------------------------------------------------

V6_DOC = 0x2001_0DB8 << 96

IP_VALID = [
    pytest.param("192.168.0.1", False, 0xC0A8_0001, 32, id="v4"),
    pytest.param("0.0.0.0", False, 0, 32, id="v4-zero"),
    pytest.param("255.255.255.255", False, 2**32 - 1, 32, id="v4-all-ones"),
    pytest.param("10.0.0.1/8", False, 0x0A00_0001, 8, id="v4-prefix-address-not-masked"),
    pytest.param("1.2.3.4/0", False, 0x0102_0304, 0, id="v4-prefix-zero"),
    pytest.param("1.2.3.4/32", False, 0x0102_0304, 32, id="v4-prefix-full"),
    pytest.param("::", True, 0, 128, id="v6-unspecified"),
    pytest.param("::1", True, 1, 128, id="v6-loopback"),
    pytest.param("1:2:3:4:5:6:7:8", True, 0x0001_0002_0003_0004_0005_0006_0007_0008, 128, id="v6"),
    pytest.param(
        "0001:0002:0003:0004:0005:0006:0007:0008",
        True,
        0x0001_0002_0003_0004_0005_0006_0007_0008,
        128,
        id="v6-padded-groups",
    ),
    pytest.param(
        "ABCD:EF01:2345:6789:ABCD:EF01:2345:6789/128",
        True,
        0xABCD_EF01_2345_6789_ABCD_EF01_2345_6789,
        128,
        id="v6-upper-case-at-43-bytes",
    ),
    pytest.param("aBcD::", True, 0xABCD << 112, 128, id="v6-mixed-case"),
    pytest.param("1:2:3:4:5:6:7::", True, 0x0001_0002_0003_0004_0005_0006_0007 << 16, 128,
                 id="v6-gap-at-end-for-one-group"),
    pytest.param("::1:2:3:4:5:6:7", True, 0x0001_0002_0003_0004_0005_0006_0007, 128,
                 id="v6-gap-at-start-for-one-group"),
    pytest.param("1::8", True, (1 << 112) | 8, 128, id="v6-gap-in-middle"),
    pytest.param("2001:db8::/32", True, V6_DOC, 32, id="v6-prefix"),
    pytest.param("::/0", True, 0, 0, id="v6-prefix-zero"),
    pytest.param("::ffff:ff00:1", True, 0xFFFF_FF00_0001, 128, id="v6-v4-mapped-in-hex"),
]  # fmt: skip

TOO_LONG = "too long"
EMBEDDED = "ipv4 embedded in ipv6"
BAD_ADDRESS = "invalid ip address"
PREFIX_LENGTH = "too many characters"
PREFIX_DIGITS = "not a decimal number"
PREFIX_ZEROS = "leading zeros"
PREFIX_RANGE = "larger than"

IP_INVALID = [
    pytest.param("", BAD_ADDRESS, id="empty"),
    pytest.param("0ABCD:EF01:2345:6789:ABCD:EF01:2345:6789/128", TOO_LONG, id="44-bytes"),
    pytest.param("1.2.3.4/" + "1" * 40, TOO_LONG, id="long-prefix-is-too-long-first"),
    pytest.param("::ffff:192.168.0.1", EMBEDDED, id="v4-mapped-dotted"),
    pytest.param("::127.0.0.1", EMBEDDED, id="v4-compatible-dotted"),
    pytest.param("a:b:c.d.e", EMBEDDED, id="two-colons-two-dots-anything"),
    pytest.param("010.0.0.1", BAD_ADDRESS, id="v4-leading-zero"),
    pytest.param("1.2.3.00", BAD_ADDRESS, id="v4-double-zero"),
    pytest.param("0001.2.3.4", BAD_ADDRESS, id="v4-four-digit-octet"),
    pytest.param("256.0.0.1", BAD_ADDRESS, id="v4-octet-too-large"),
    pytest.param("1.2.3", BAD_ADDRESS, id="v4-three-octets"),
    pytest.param("1.2.3.4.5", BAD_ADDRESS, id="v4-five-octets"),
    pytest.param("1..3.4", BAD_ADDRESS, id="v4-empty-octet"),
    pytest.param("+1.2.3.4", BAD_ADDRESS, id="v4-plus"),
    pytest.param(" 1.2.3.4", BAD_ADDRESS, id="leading-space"),
    pytest.param("1.2.3.4 ", BAD_ADDRESS, id="trailing-space"),
    pytest.param("1.2.3.4\t", BAD_ADDRESS, id="trailing-tab"),
    pytest.param("١.2.3.4", BAD_ADDRESS, id="v4-arabic-indic-digit"),
    pytest.param("0x1.2.3.4", BAD_ADDRESS, id="v4-hex-octet"),
    pytest.param("1:2.3.4", BAD_ADDRESS, id="one-colon-three-dots"),
    pytest.param("[::1]", BAD_ADDRESS, id="v6-brackets"),
    pytest.param("fe80::1%eth0", BAD_ADDRESS, id="v6-zone-id"),
    pytest.param("1:2:3:4:5:6:7", BAD_ADDRESS, id="v6-seven-groups"),
    pytest.param("1:2:3:4:5:6:7:8:9", BAD_ADDRESS, id="v6-nine-groups"),
    pytest.param("1:2:3:4::5:6:7:8", BAD_ADDRESS, id="v6-gap-for-no-group"),
    pytest.param("::1:2:3:4:5:6:7:8", BAD_ADDRESS, id="v6-gap-at-start-for-no-group"),
    pytest.param("1:2:3:4:5:6:7:8::", BAD_ADDRESS, id="v6-gap-at-end-for-no-group"),
    pytest.param("1::2::3", BAD_ADDRESS, id="v6-two-gaps"),
    pytest.param("1:::2", BAD_ADDRESS, id="v6-triple-colon"),
    pytest.param(":1:2:3:4:5:6:7", BAD_ADDRESS, id="v6-leading-single-colon"),
    pytest.param("1:2:3:4:5:6:7:", BAD_ADDRESS, id="v6-trailing-single-colon"),
    pytest.param("12345::", BAD_ADDRESS, id="v6-five-hex-digits"),
    pytest.param("00001::", BAD_ADDRESS, id="v6-five-digits-with-zeros"),
    pytest.param("g::", BAD_ADDRESS, id="v6-not-hex"),
    pytest.param(":", BAD_ADDRESS, id="single-colon"),
    pytest.param("/8", BAD_ADDRESS, id="prefix-only"),
    pytest.param("1.2.3.4/", "invalid prefix ``", id="empty-prefix"),
    pytest.param("1.2.3.4/032", PREFIX_LENGTH, id="v4-prefix-three-chars"),
    pytest.param("1.2.3.4/100", PREFIX_LENGTH, id="v4-prefix-hundred"),
    pytest.param("::/0128", PREFIX_LENGTH, id="v6-prefix-four-chars"),
    pytest.param("1.2.3.4/8/8", PREFIX_LENGTH, id="second-slash-in-prefix"),
    pytest.param("1.2.3.4//8", PREFIX_DIGITS, id="double-slash"),
    pytest.param("1.2.3.4/3a", PREFIX_DIGITS, id="prefix-hex"),
    pytest.param("1.2.3.4/+8", PREFIX_DIGITS, id="prefix-plus"),
    pytest.param("::/-1", PREFIX_DIGITS, id="prefix-minus"),
    pytest.param("1.2.3.4/ 8", PREFIX_DIGITS, id="prefix-space"),
    pytest.param("1.2.3.4/١", PREFIX_DIGITS, id="prefix-arabic-indic-digit"),
    pytest.param("1.2.3.4/08", PREFIX_ZEROS, id="v4-prefix-leading-zero"),
    pytest.param("::/00", PREFIX_ZEROS, id="v6-prefix-double-zero"),
    pytest.param("1.2.3.4/33", PREFIX_RANGE, id="v4-prefix-33"),
    pytest.param("::/129", PREFIX_RANGE, id="v6-prefix-129"),
    pytest.param("1.2.3.4/99", PREFIX_RANGE, id="v4-prefix-99"),
    pytest.param("::/999", PREFIX_RANGE, id="v6-prefix-beyond-a-byte"),
]

IP_EQUAL = [
    pytest.param("10.0.0.1", "10.0.0.1/32", True, id="default-prefix-v4"),
    pytest.param("::1", "0:0:0:0:0:0:0:1/128", True, id="default-prefix-v6"),
    pytest.param("192.168.0.1/24", "192.168.0.0/24", False, id="host-bits-count"),
    pytest.param("10.0.0.0/8", "10.0.0.0/16", False, id="prefix-counts"),
    pytest.param("0.0.0.0", "::", False, id="versions-differ"),
    pytest.param("ABCD::", "abcd::", True, id="hex-case-ignored"),
]

IP_IN_RANGE = [
    pytest.param("192.168.0.1", "192.168.0.0/24", True, id="host-in-network"),
    pytest.param("192.168.0.1/24", "192.168.0.0/24", True, id="same-range-other-host"),
    pytest.param("192.168.0.0/24", "192.168.0.0/16", True, id="subnet"),
    pytest.param("192.168.0.0/16", "192.168.0.0/24", False, id="supernet"),
    pytest.param("192.169.0.1", "192.168.0.0/16", False, id="outside"),
    pytest.param("1.2.3.4", "0.0.0.0/0", True, id="everything-v4"),
    pytest.param("1.2.3.4", "1.2.3.4", True, id="itself"),
    pytest.param("::1", "0.0.0.0/0", False, id="v6-in-v4"),
    pytest.param("1.2.3.4", "::/0", False, id="v4-in-v6"),
    pytest.param("::ffff:ff00:1", "::/0", True, id="everything-v6"),
    pytest.param("2001:db8::1", "2001:db8::/32", True, id="v6-host-in-network"),
    pytest.param("2001:db9::1", "2001:db8::/32", False, id="v6-outside"),
    pytest.param("2001:db8::/31", "2001:db8::/32", False, id="v6-supernet"),
]

IP_LOOPBACK = [
    pytest.param("127.0.0.1", True, id="v4"),
    pytest.param("127.255.255.255", True, id="v4-top"),
    pytest.param("127.0.0.1/8", True, id="v4-whole-range"),
    pytest.param("127.0.0.1/7", False, id="v4-range-too-wide"),
    pytest.param("128.0.0.1", False, id="v4-outside"),
    pytest.param("::1", True, id="v6"),
    pytest.param("::1/127", False, id="v6-range-too-wide"),
    pytest.param("::2", False, id="v6-other"),
    pytest.param("::ffff:7f00:1", False, id="v4-mapped-loopback-in-hex"),
]

IP_MULTICAST = [
    pytest.param("224.0.0.1", True, id="v4-bottom"),
    pytest.param("239.255.255.255", True, id="v4-top"),
    pytest.param("224.0.0.0/4", True, id="v4-whole-range"),
    pytest.param("224.0.0.0/3", False, id="v4-range-too-wide"),
    pytest.param("240.0.0.1", False, id="v4-above"),
    pytest.param("223.255.255.255", False, id="v4-below"),
    pytest.param("ff02::1", True, id="v6"),
    pytest.param("ff00::/8", True, id="v6-whole-range"),
    pytest.param("ff00::/7", False, id="v6-range-too-wide"),
    pytest.param("fe80::1", False, id="v6-link-local"),
]

IP_BOUNDS = [
    pytest.param("192.168.5.7/24", 0xC0A8_0500, 0xC0A8_05FF, id="v4-24"),
    pytest.param("1.2.3.4/0", 0, 2**32 - 1, id="v4-0"),
    pytest.param("1.2.3.4", 0x0102_0304, 0x0102_0304, id="v4-32"),
    pytest.param("::1", 1, 1, id="v6-128"),
    pytest.param("ff00::1/8", 0xFF << 120, (0xFF << 120) | (2**120 - 1), id="v6-8"),
    pytest.param("::/0", 0, 2**128 - 1, id="v6-0"),
]

IP_TEXT = [
    pytest.param("10.0.0.1", "10.0.0.1/32", id="v4-gains-prefix"),
    pytest.param("10.0.0.1/8", "10.0.0.1/8", id="v4-keeps-host-bits"),
    pytest.param("::", "::/128", id="v6-unspecified"),
    pytest.param("0:0:0:0:0:0:0:1", "::1/128", id="v6-compressed"),
    pytest.param("1:0:0:1:0:0:0:1", "1:0:0:1::1/128", id="v6-longest-run"),
    pytest.param("1:0:0:2:3:0:0:4", "1::2:3:0:0:4/128", id="v6-first-of-equal-runs"),
    pytest.param("1:0:2:0:3:0:4:0", "1:0:2:0:3:0:4:0/128", id="v6-single-zeros-kept"),
    pytest.param("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0/128", id="v6-single-trailing-zero"),
    pytest.param("ABCD::/16", "abcd::/16", id="v6-lower-case"),
    pytest.param("0001::", "1::/128", id="v6-no-padding"),
    pytest.param("::ffff:ff00:1", "::ffff:ff00:1/128", id="v6-mapped-stays-hex"),
]


@pytest.mark.parametrize(("text", "is_v6", "addr", "prefix"), IP_VALID)
def test_ip_parses(text: str, is_v6: bool, addr: int, prefix: int) -> None:
    ip = parse_ip(text)
    assert ip == IPAddr(is_v6=is_v6, addr=addr, prefix=prefix)
    assert ip.is_ipv6() == is_v6
    assert ip.is_ipv4() == (not is_v6)


@pytest.mark.parametrize(("text", "message"), IP_INVALID)
def test_ip_rejects(text: str, message: str) -> None:
    with pytest.raises(ExtensionError, match=message):
        parse_ip(text)


@pytest.mark.parametrize(("left", "right", "equal"), IP_EQUAL)
def test_ip_equality(left: str, right: str, equal: bool) -> None:
    assert (parse_ip(left) == parse_ip(right)) == equal


@pytest.mark.parametrize(("inner", "outer", "expected"), IP_IN_RANGE)
def test_ip_is_in_range(inner: str, outer: str, expected: bool) -> None:
    assert parse_ip(inner).is_in_range(parse_ip(outer)) == expected


@pytest.mark.parametrize(("text", "expected"), IP_LOOPBACK)
def test_ip_is_loopback(text: str, expected: bool) -> None:
    assert parse_ip(text).is_loopback() == expected


@pytest.mark.parametrize(("text", "expected"), IP_MULTICAST)
def test_ip_is_multicast(text: str, expected: bool) -> None:
    assert parse_ip(text).is_multicast() == expected


@pytest.mark.parametrize(("text", "network", "broadcast"), IP_BOUNDS)
def test_ip_network_and_broadcast(text: str, network: int, broadcast: int) -> None:
    ip = parse_ip(text)
    assert (ip.network(), ip.broadcast()) == (network, broadcast)


@pytest.mark.parametrize(("text", "rendered"), IP_TEXT)
def test_ip_renders(text: str, rendered: str) -> None:
    ip = parse_ip(text)
    assert str(ip) == rendered
    assert ip.to_cedar() == f'ip("{rendered}")'
    assert ip.to_json() == {"fn": "ip", "arg": rendered}
    assert parse_ip(rendered) == ip


def _ip_values() -> st.SearchStrategy[IPAddr]:
    v4 = st.one_of(
        st.integers(0, 2**32 - 1),
        st.sampled_from([0, 0x7F00_0001, 0x7FFF_FFFF, 0xE000_0000, 0xEFFF_FFFF, 2**32 - 1]),
    )
    v6 = st.one_of(
        st.integers(0, 2**128 - 1),
        st.tuples(st.integers(0, 0xFFFF), st.integers(0, 7)).map(lambda t: t[0] << 16 * t[1]),
        st.sampled_from([0, 1, 0xFF << 120, V6_DOC, 0xFFFF_FF00_0001, 2**128 - 1]),
    )
    return st.one_of(
        v4.flatmap(lambda a: st.builds(IPAddr, st.just(False), st.just(a), st.integers(0, 32))),
        v6.flatmap(lambda a: st.builds(IPAddr, st.just(True), st.just(a), st.integers(0, 128))),
    )


@given(_ip_values())
def test_ip_text_round_trips(ip: IPAddr) -> None:
    assert parse_ip(str(ip)) == ip


# ---------------------------------------------------------------------------------------------
# datetime and duration
# ---------------------------------------------------------------------------------------------

DATE_PATTERN = "invalid date pattern"
HMS_PATTERN = "invalid hour/minute/second pattern"
MS_OFFSET_PATTERN = "invalid millisecond and/or offset pattern"
BAD_DATE = "invalid date `"
BAD_HMS = "invalid hour/minute/second `"
BAD_OFFSET = "invalid offset range"

DATETIME_VALID = [
    pytest.param("1970-01-01", 0, id="epoch"),
    pytest.param("2024-10-15", 1_728_950_400_000, id="date-only-is-midnight"),
    pytest.param("2024-10-15T00:00:00Z", 1_728_950_400_000, id="midnight-z"),
    pytest.param("2024-10-15T11:38:02Z", 1_728_992_282_000, id="z"),
    pytest.param("2024-10-15T11:38:02.101Z", 1_728_992_282_101, id="milliseconds"),
    pytest.param("2024-10-15T11:38:02+1134", 1_728_950_642_000, id="positive-offset"),
    pytest.param("2024-10-15T11:38:02.101-1134", 1_729_033_922_101, id="negative-offset"),
    pytest.param("2024-10-15T00:00:00-2359", 1_729_036_740_000, id="offset-crosses-to-next-day"),
    pytest.param("2024-10-15T23:59:00+2359", 1_728_950_400_000, id="largest-offset"),
    pytest.param("2024-01-01T00:00:00+0000", 1_704_067_200_000, id="plus-zero-offset"),
    pytest.param("2024-01-01T00:00:00-0000", 1_704_067_200_000, id="minus-zero-offset"),
    pytest.param("1969-12-31T23:59:59.999Z", -1, id="before-epoch"),
    pytest.param("2024-02-29", 1_709_164_800_000, id="leap-day"),
    pytest.param("2000-02-29", 951_782_400_000, id="leap-day-century-divisible-by-400"),
    pytest.param("0001-01-01", -62_135_596_800_000, id="year-one"),
    pytest.param("0000-01-01", YEAR_0, id="year-zero"),
    pytest.param("0000-02-29", YEAR_0 + 59 * DAY, id="year-zero-is-leap"),
    pytest.param("0000-01-01T00:00:00+2359", YEAR_0 - 86_340_000, id="before-year-zero-in-utc"),
    pytest.param("9999-12-31T23:59:59.999Z", YEAR_10000 - 1, id="last-millisecond"),
    pytest.param("9999-12-31T23:59:59.999-2359", YEAR_10000 - 1 + 86_340_000,
                 id="after-year-9999-in-utc"),
]  # fmt: skip

DATETIME_INVALID = [
    pytest.param("", DATE_PATTERN, id="empty"),
    pytest.param("a", DATE_PATTERN, id="letter"),
    pytest.param("-1", DATE_PATTERN, id="number"),
    pytest.param("11-12-13", DATE_PATTERN, id="two-digit-year"),
    pytest.param("10000-01-01", DATE_PATTERN, id="five-digit-year"),
    pytest.param("-0001-01-01", DATE_PATTERN, id="negative-year"),
    pytest.param("2024-1-01", DATE_PATTERN, id="one-digit-month"),
    pytest.param("1111-1x-20", DATE_PATTERN, id="letter-in-month"),
    pytest.param("２024-01-01", DATE_PATTERN, id="fullwidth-digit"),
    pytest.param("2024/01/01", DATE_PATTERN, id="slashes"),
    pytest.param("2024-10-15Z", HMS_PATTERN, id="date-then-z"),
    pytest.param("2024-10-15T", HMS_PATTERN, id="bare-t"),
    pytest.param("2024-10-15 11:38:02Z", HMS_PATTERN, id="space-separator"),
    pytest.param("2024-10-15t11:38:02Z", HMS_PATTERN, id="lower-case-t"),
    pytest.param("2024-01-01T01:02", HMS_PATTERN, id="no-seconds"),
    pytest.param("2024-01-01T1:02:03Z", HMS_PATTERN, id="one-digit-hour"),
    pytest.param("2024-01-01T01::02:03", HMS_PATTERN, id="double-colon"),
    pytest.param("2024-10-15T11:38:02", MS_OFFSET_PATTERN, id="no-zone"),
    pytest.param("2024-10-15T11:38:02.101", MS_OFFSET_PATTERN, id="milliseconds-no-zone"),
    pytest.param("2024-10-15T11:38:02ZZ", MS_OFFSET_PATTERN, id="double-z"),
    pytest.param("2024-10-15T11:38:02z", MS_OFFSET_PATTERN, id="lower-case-z"),
    pytest.param("2024-10-15T11:38:02.1Z", MS_OFFSET_PATTERN, id="one-digit-milliseconds"),
    pytest.param("2024-10-15T11:38:02.1234Z", MS_OFFSET_PATTERN, id="four-digit-milliseconds"),
    pytest.param("2024-10-15T11:38:02,101Z", MS_OFFSET_PATTERN, id="comma-milliseconds"),
    pytest.param("2024-10-15T11:38:02+11:34", MS_OFFSET_PATTERN, id="offset-with-colon"),
    pytest.param("2024-10-15T11:38:02+113", MS_OFFSET_PATTERN, id="three-digit-offset"),
    pytest.param("2024-10-15T11:38:02+11", MS_OFFSET_PATTERN, id="hour-only-offset"),
    pytest.param("2024-10-15T11:38:02Z+0100", MS_OFFSET_PATTERN, id="z-and-offset"),
    pytest.param("2024-10-15T11:38:02Z\n", MS_OFFSET_PATTERN, id="trailing-newline"),
    pytest.param("2024-10-15T11:38:02.101Z ", MS_OFFSET_PATTERN, id="trailing-space"),
    pytest.param("2024-13-01T24:00:00", MS_OFFSET_PATTERN, id="patterns-before-values"),
    pytest.param("2024-00-01", BAD_DATE, id="month-zero"),
    pytest.param("2024-13-01", BAD_DATE, id="month-13"),
    pytest.param("2024-01-00", BAD_DATE, id="day-zero"),
    pytest.param("2024-01-32", BAD_DATE, id="day-32"),
    pytest.param("2024-04-31", BAD_DATE, id="april-31"),
    pytest.param("2024-02-30", BAD_DATE, id="february-30"),
    pytest.param("2025-02-29", BAD_DATE, id="february-29-common-year"),
    pytest.param("1900-02-29", BAD_DATE, id="february-29-century"),
    pytest.param("2024-13-01T24:00:00Z", BAD_DATE, id="date-before-time"),
    pytest.param("2024-01-01T24:00:00Z", BAD_HMS, id="hour-24"),
    pytest.param("2024-01-01T31:02:03Z", BAD_HMS, id="hour-31"),
    pytest.param("2024-01-01T01:60:03Z", BAD_HMS, id="minute-60"),
    pytest.param("2016-12-31T23:59:60Z", BAD_HMS, id="leap-second"),
    pytest.param("2024-01-01T24:00:00+2400", BAD_HMS, id="time-before-offset"),
    pytest.param("2024-01-01T00:00:00+2400", BAD_OFFSET, id="offset-hour-24"),
    pytest.param("2024-01-01T00:00:00-2400", BAD_OFFSET, id="negative-offset-hour-24"),
    pytest.param("2024-01-01T00:00:00+0060", BAD_OFFSET, id="offset-minute-60"),
    pytest.param("2024-01-01T00:00:00.000+9999", BAD_OFFSET, id="offset-9999"),
]

DURATION_OVERFLOW = "overflows"
DURATION_PATTERN = "invalid duration pattern"

DURATION_VALID = [
    pytest.param("0ms", 0, id="zero"),
    pytest.param("-0ms", 0, id="minus-zero"),
    pytest.param("1ms", 1, id="millisecond"),
    pytest.param("1s", 1_000, id="second"),
    pytest.param("1m", 60_000, id="minute"),
    pytest.param("1h", 3_600_000, id="hour"),
    pytest.param("1d", DAY, id="day"),
    pytest.param("1d2h3m4s5ms", 93_784_005, id="all-units"),
    pytest.param("-1d2h3m4s5ms", -93_784_005, id="all-units-negative"),
    pytest.param("5m5ms", 300_005, id="minutes-then-milliseconds"),
    pytest.param("90m", 5_400_000, id="unnormalised"),
    pytest.param("007s", 7_000, id="leading-zeros"),
    pytest.param("9223372036854775807ms", I64_MAX, id="maximum"),
    pytest.param("-9223372036854775808ms", I64_MIN, id="minimum"),
    pytest.param("106751991167d7h12m55s807ms", I64_MAX, id="maximum-in-units"),
    pytest.param("-106751991167d7h12m55s808ms", I64_MIN, id="minimum-in-units"),
    pytest.param("0" * 40 + "1ms", 1, id="many-leading-zeros"),
]

DURATION_INVALID = [
    pytest.param("", DURATION_PATTERN, id="empty"),
    pytest.param("-", DURATION_PATTERN, id="minus-alone"),
    pytest.param("1", DURATION_PATTERN, id="no-unit"),
    pytest.param("ms", DURATION_PATTERN, id="no-number"),
    pytest.param("1D", DURATION_PATTERN, id="upper-case-unit"),
    pytest.param("1y", DURATION_PATTERN, id="unknown-unit"),
    pytest.param("1us", DURATION_PATTERN, id="microseconds"),
    pytest.param("1.5h", DURATION_PATTERN, id="fraction"),
    pytest.param("1 h", DURATION_PATTERN, id="inner-space"),
    pytest.param(" 1h", DURATION_PATTERN, id="leading-space"),
    pytest.param("1h\n", DURATION_PATTERN, id="trailing-newline"),
    pytest.param("+1h", DURATION_PATTERN, id="plus-sign"),
    pytest.param("--1h", DURATION_PATTERN, id="double-minus"),
    pytest.param("1h-1m", DURATION_PATTERN, id="inner-minus"),
    pytest.param("1h1d", DURATION_PATTERN, id="units-out-of-order"),
    pytest.param("1s1s", DURATION_PATTERN, id="unit-twice"),
    pytest.param("1hms", DURATION_PATTERN, id="unit-without-number"),
    pytest.param("١ms", DURATION_PATTERN, id="arabic-indic-digit"),
    pytest.param("9223372036854775808ms", DURATION_OVERFLOW, id="above-maximum"),
    pytest.param("-9223372036854775809ms", DURATION_OVERFLOW, id="below-minimum"),
    pytest.param("18446744073709551616ms", DURATION_OVERFLOW, id="above-u64"),
    pytest.param("106751991168d", DURATION_OVERFLOW, id="too-many-days"),
    pytest.param("106751991167d7h12m55s808ms", DURATION_OVERFLOW, id="above-maximum-in-units"),
    pytest.param("-106751991167d7h12m55s809ms", DURATION_OVERFLOW, id="below-minimum-in-units"),
    pytest.param("9" * 5000 + "d", DURATION_OVERFLOW, id="huge-number"),
]

DURATION_UNITS = [
    pytest.param(0, (0, 0, 0, 0, 0), id="zero"),
    pytest.param(-1_999, (-1_999, -1, 0, 0, 0), id="truncates-toward-zero"),
    pytest.param(86_399_999, (86_399_999, 86_399, 1_439, 23, 0), id="just-under-a-day"),
    pytest.param(93_784_005, (93_784_005, 93_784, 1_563, 26, 1), id="positive"),
    pytest.param(-93_784_005, (-93_784_005, -93_784, -1_563, -26, -1), id="negative"),
    pytest.param(
        I64_MAX,
        (I64_MAX, 9_223_372_036_854_775, 153_722_867_280_912, 2_562_047_788_015, 106_751_991_167),
        id="maximum",
    ),
    pytest.param(
        I64_MIN,
        (I64_MIN, -9_223_372_036_854_775, -153_722_867_280_912, -2_562_047_788_015,
         -106_751_991_167),
        id="minimum",
    ),
]  # fmt: skip

OFFSETS = [
    pytest.param(0, 1, 1, id="forward"),
    pytest.param(0, -1, -1, id="backward"),
    pytest.param(I64_MIN, I64_MAX, -1, id="extremes-cancel"),
    pytest.param(I64_MAX, I64_MIN, -1, id="extremes-cancel-other-way"),
    pytest.param(I64_MAX, 1, None, id="overflow-up"),
    pytest.param(I64_MIN, -1, None, id="overflow-down"),
    pytest.param(-1, I64_MIN, None, id="overflow-by-minimum"),
]

DURATIONS_SINCE = [
    pytest.param(1, 0, 1, id="later"),
    pytest.param(0, 1, -1, id="earlier"),
    pytest.param(-1, I64_MAX, I64_MIN, id="reaches-minimum"),
    pytest.param(I64_MAX, 0, I64_MAX, id="reaches-maximum"),
    pytest.param(I64_MIN, 1, None, id="overflow-down"),
    pytest.param(I64_MAX, -1, None, id="overflow-up"),
    pytest.param(0, I64_MIN, None, id="minus-minimum"),
]

TO_DATES = [
    pytest.param(0, 0, id="epoch"),
    pytest.param(1, 0, id="after-midnight"),
    pytest.param(DAY - 1, 0, id="before-midnight"),
    pytest.param(DAY, DAY, id="next-midnight"),
    pytest.param(-1, -DAY, id="before-epoch"),
    pytest.param(-DAY, -DAY, id="midnight-before-epoch"),
    pytest.param(-DAY - 1, -2 * DAY, id="two-days-before"),
    pytest.param(I64_MAX, I64_MAX - 25_975_807, id="maximum"),
    pytest.param(I64_MIN + 25_975_808, I64_MIN + 25_975_808, id="earliest-midnight"),
    pytest.param(I64_MIN + 25_975_807, None, id="before-earliest-midnight"),
    pytest.param(I64_MIN, None, id="minimum"),
]

TO_TIMES = [
    pytest.param(0, 0, id="epoch"),
    pytest.param(1, 1, id="after-midnight"),
    pytest.param(DAY, 0, id="next-midnight"),
    pytest.param(-1, DAY - 1, id="before-epoch"),
    pytest.param(-DAY, 0, id="midnight-before-epoch"),
    pytest.param(I64_MAX, 25_975_807, id="maximum"),
    pytest.param(I64_MIN, 60_424_192, id="minimum"),
]

DATETIME_CEDAR = [
    pytest.param(0, 'datetime("1970-01-01T00:00:00.000Z")', id="epoch"),
    pytest.param(-1, 'datetime("1969-12-31T23:59:59.999Z")', id="before-epoch"),
    pytest.param(1_728_992_282_101, 'datetime("2024-10-15T11:38:02.101Z")', id="recent"),
    pytest.param(YEAR_0, 'datetime("0000-01-01T00:00:00.000Z")', id="first-of-year-zero"),
    pytest.param(YEAR_10000 - 1, 'datetime("9999-12-31T23:59:59.999Z")', id="last-of-9999"),
    pytest.param(
        YEAR_0 - 1,
        'datetime("1970-01-01").offset(duration("-62167219200001ms"))',
        id="before-year-zero",
    ),
    pytest.param(
        YEAR_10000, 'datetime("1970-01-01").offset(duration("253402300800000ms"))', id="year-10000"
    ),
    pytest.param(
        I64_MIN, 'datetime("1970-01-01").offset(duration("-9223372036854775808ms"))', id="minimum"
    ),
]


@pytest.mark.parametrize(("text", "ms"), DATETIME_VALID)
def test_datetime_parses(text: str, ms: int) -> None:
    assert parse_datetime(text) == Datetime(ms)


@pytest.mark.parametrize(("text", "message"), DATETIME_INVALID)
def test_datetime_rejects(text: str, message: str) -> None:
    with pytest.raises(ExtensionError, match=message):
        parse_datetime(text)


@pytest.mark.parametrize(("text", "ms"), DURATION_VALID)
def test_duration_parses(text: str, ms: int) -> None:
    assert parse_duration(text) == Duration(ms)


@pytest.mark.parametrize(("text", "message"), DURATION_INVALID)
def test_duration_rejects(text: str, message: str) -> None:
    with pytest.raises(ExtensionError, match=message):
        parse_duration(text)


@pytest.mark.parametrize(("ms", "units"), DURATION_UNITS)
def test_duration_units(ms: int, units: tuple[int, int, int, int, int]) -> None:
    d = Duration(ms)
    assert (d.to_milliseconds(), d.to_seconds(), d.to_minutes(), d.to_hours(), d.to_days()) == (
        units
    )


@pytest.mark.parametrize(("start", "step", "expected"), OFFSETS)
def test_offset(start: int, step: int, expected: int | None) -> None:
    expected_value = None if expected is None else Datetime(expected)
    _check_op(lambda: offset(Datetime(start), Duration(step)), expected_value)


@pytest.mark.parametrize(("later", "earlier", "expected"), DURATIONS_SINCE)
def test_duration_since(later: int, earlier: int, expected: int | None) -> None:
    expected_value = None if expected is None else Duration(expected)
    _check_op(lambda: duration_since(Datetime(later), Datetime(earlier)), expected_value)


@pytest.mark.parametrize(("ms", "expected"), TO_DATES)
def test_to_date(ms: int, expected: int | None) -> None:
    _check_op(lambda: to_date(Datetime(ms)), None if expected is None else Datetime(expected))


@pytest.mark.parametrize(("ms", "expected"), TO_TIMES)
def test_to_time(ms: int, expected: int) -> None:
    assert to_time(Datetime(ms)) == Duration(expected)


def _check_op(run: Callable[[], object], expected: object | None) -> None:
    if expected is None:
        with pytest.raises(ExtensionError, match="overflow"):
            run()
    else:
        assert run() == expected


@pytest.mark.parametrize(("ms", "cedar"), DATETIME_CEDAR)
def test_datetime_renders(ms: int, cedar: str) -> None:
    dt = Datetime(ms)
    assert dt.to_cedar() == cedar
    if cedar.startswith('datetime("1970-01-01").offset'):
        extn = {"fn": "duration", "arg": f"{ms}ms"}
        assert dt.to_json() == {
            "fn": "offset",
            "args": [{"__extn": {"fn": "datetime", "arg": "1970-01-01"}}, {"__extn": extn}],
        }
    else:
        iso = cedar.removeprefix('datetime("').removesuffix('")')
        assert str(dt) == iso
        assert dt.to_json() == {"fn": "datetime", "arg": iso}
        assert parse_datetime(iso) == dt


def test_duration_renders() -> None:
    d = Duration(-5)
    assert str(d) == "-5ms"
    assert d.to_cedar() == 'duration("-5ms")'
    assert d.to_json() == {"fn": "duration", "arg": "-5ms"}


def test_datetime_and_duration_order_by_milliseconds() -> None:
    assert parse_datetime("1969-12-31") < parse_datetime("1970-01-01T00:00:00.001Z")
    assert parse_duration("-1d") < parse_duration("1ms") < parse_duration("1s")


@given(st.integers(I64_MIN, I64_MAX))
def test_datetime_text_round_trips(ms: int) -> None:
    dt = Datetime(ms)
    iso = dt.iso()
    assert (iso is None) == (not YEAR_0 <= ms < YEAR_10000)
    if iso is not None:
        assert parse_datetime(iso) == dt
    assert parse_duration(str(Duration(ms))) == Duration(ms)


# ---------------------------------------------------------------------------------------------
# agreement with Cedar (cedarpy)
# ---------------------------------------------------------------------------------------------

REQUEST = {
    "principal": 'User::"a"',
    "action": 'Action::"x"',
    "resource": 'R::"r"',
    "context": {},
}
EPOCH_PLUS = 'datetime("1970-01-01").offset(duration("{}ms"))'
# No shrinking: each step is a call into Cedar, and a failure already lists every mismatch.
CEDAR_SETTINGS = settings(
    derandomize=True,
    max_examples=25,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclass(frozen=True, slots=True)
class Check:
    """A Cedar expression that must evaluate to `true` or, when `error` is set, must raise an
    error whose message matches that regular expression."""

    expr: str
    error: str | None = None


class Cedar:
    """Evaluates many expressions in one authorization call: one policy per expression."""

    def __init__(self, module: Any) -> None:
        self.module = module

    def evaluate(self, exprs: Sequence[str]) -> list[bool | str]:
        """For each expression, True or False, or Cedar's error message."""
        text = "\n".join(f"permit(principal, action, resource) when {{ {e} }};" for e in exprs)
        response = self.module.is_authorized(REQUEST, text, [])
        errors = list(response.diagnostics.errors)
        if response.decision.value not in ("Allow", "Deny"):
            raise AssertionError(f"cedar could not run the probe policies: {errors}")
        by_policy = {e.split("`")[1]: e for e in errors if "policy `" in e}
        satisfied = set(response.diagnostics.reasons)
        outcomes: list[bool | str] = []
        for i in range(len(exprs)):
            pid = f"policy{i}"
            outcomes.append(by_policy.get(pid) or pid in satisfied)
        return outcomes

    def assert_agrees(self, checks: Iterable[Check]) -> None:
        checks = list(checks)
        wrong = []
        for check, got in zip(checks, self.evaluate([c.expr for c in checks]), strict=True):
            if check.error is None:
                ok = got is True
            else:
                ok = isinstance(got, str) and re.search(check.error, got) is not None
            if not ok:
                expected = "true" if check.error is None else f"an error matching {check.error!r}"
                wrong.append(f"{check.expr}\n  expected {expected}, cedar gave {got!r}")
        assert not wrong, "\n".join(wrong)


@pytest.fixture(scope="module")
def cedar() -> Cedar:
    module = pytest.importorskip(
        "cedarpy", reason="cedarpy (Cedar's Rust implementation) is needed to compare with Cedar"
    )
    return Cedar(module)


def cedar_string(s: str) -> str:
    """`s` as a Cedar string literal."""
    out = []
    for c in s:
        if c in '"\\':
            out.append("\\" + c)
        elif c.isprintable():
            out.append(c)
        else:
            out.append(f"\\u{{{ord(c):x}}}")
    return '"' + "".join(out) + '"'


def cedar_bool(b: bool) -> str:
    return "true" if b else "false"


# Each of our error messages, by a phrase in it, and what Cedar says for the same failure.
DECIMAL_ERRORS = [
    (NOT_WELL_FORMED, "is not a well-formed decimal value"),
    (TOO_MANY_DIGITS, "too many digits after the decimal"),
    (DECIMAL_OVERFLOW, "overflow when converting to decimal"),
]
IP_ERRORS = [
    (TOO_LONG, "string length is too large"),
    (EMBEDDED, "do not accept IPv4 embedded in IPv6"),
    (BAD_ADDRESS, "invalid IP address: |error parsing IP address from the string `"),
    ("invalid prefix ``", "cannot parse integer from empty string"),
    (PREFIX_LENGTH, r"error parsing prefix: string length \d+ is too large"),
    (PREFIX_DIGITS, "encountered non-digit"),
    (PREFIX_ZEROS, r"leading zero\(s\)"),
    (PREFIX_RANGE, "is larger than the limit|number too large to fit in target type"),
]
DATETIME_ERRORS = [
    (DATE_PATTERN, "invalid date pattern"),
    (HMS_PATTERN, "invalid hour/minute/second pattern"),
    (MS_OFFSET_PATTERN, "invalid millisecond and/or offset pattern"),
    (BAD_DATE, "invalid date: "),
    (BAD_HMS, "invalid hour/minute/second: "),
    (BAD_OFFSET, "invalid offset range: "),
]
DURATION_ERRORS = [
    (DURATION_PATTERN, "invalid duration pattern"),
    (DURATION_OVERFLOW, "Duration overflows"),
]


def _parse_check(
    constructor: str,
    parse: Callable[[str], Any],
    errors: list[tuple[str, str]],
    expected: Callable[[Any], str],
    s: str,
) -> Check:
    """`constructor(s)` equals the Cedar text `expected` gives for our value, or errors as
    we do."""
    literal = cedar_string(s)
    try:
        value = parse(s)
    except ExtensionError as e:
        cedar_error = next((theirs for ours, theirs in errors if ours in str(e)), None)
        assert cedar_error is not None, f"no cedar error listed for our error `{e}`"
        return Check(f"{constructor}({literal}) == {constructor}({literal})", cedar_error)
    return Check(f"{constructor}({literal}) == {expected(value)}")


def decimal_check(s: str) -> Check:
    return _parse_check("decimal", parse_decimal, DECIMAL_ERRORS, Decimal.to_cedar, s)


def ip_check(s: str) -> Check:
    return _parse_check("ip", parse_ip, IP_ERRORS, IPAddr.to_cedar, s)


def datetime_check(s: str) -> Check:
    return _parse_check(
        "datetime", parse_datetime, DATETIME_ERRORS, lambda dt: EPOCH_PLUS.format(dt.ms), s
    )


def duration_check(s: str) -> Check:
    return _parse_check("duration", parse_duration, DURATION_ERRORS, Duration.to_cedar, s)


def _values(table: list[Any]) -> list[tuple[Any, ...]]:
    return [tuple(case.values) for case in table]


def _texts(*tables: list[Any]) -> list[str]:
    return [case[0] for table in tables for case in _values(table)]


def test_cedar_agrees_on_decimal_table(cedar: Cedar) -> None:
    texts = _texts(DECIMAL_VALID, DECIMAL_INVALID) + [t for _, t in _values(DECIMAL_TEXT)]
    cedar.assert_agrees(decimal_check(s) for s in texts)


def test_cedar_agrees_on_ip_table(cedar: Cedar) -> None:
    texts = _texts(IP_VALID, IP_INVALID, IP_LOOPBACK, IP_MULTICAST, IP_BOUNDS, IP_TEXT)
    texts += [t for case in _values(IP_EQUAL + IP_IN_RANGE) for t in case[:2]]
    texts += [t for _, t in _values(IP_TEXT)]
    cedar.assert_agrees(ip_check(s) for s in texts)


def test_cedar_agrees_on_datetime_table(cedar: Cedar) -> None:
    cedar.assert_agrees(datetime_check(s) for s in _texts(DATETIME_VALID, DATETIME_INVALID))


def test_cedar_agrees_on_duration_table(cedar: Cedar) -> None:
    cedar.assert_agrees(duration_check(s) for s in _texts(DURATION_VALID, DURATION_INVALID))


def test_cedar_agrees_on_ip_operation_tables(cedar: Cedar) -> None:
    checks = []
    for left, right, equal in _values(IP_EQUAL):
        checks.append(Check(f'(ip("{left}") == ip("{right}")) == {cedar_bool(equal)}'))
    for inner, outer, expected in _values(IP_IN_RANGE):
        checks.append(Check(f'ip("{inner}").isInRange(ip("{outer}")) == {cedar_bool(expected)}'))
    for text, expected in _values(IP_LOOPBACK):
        checks.append(Check(f'ip("{text}").isLoopback() == {cedar_bool(expected)}'))
    for text, expected in _values(IP_MULTICAST):
        checks.append(Check(f'ip("{text}").isMulticast() == {cedar_bool(expected)}'))
    cedar.assert_agrees(checks)


def test_cedar_agrees_on_datetime_operation_tables(cedar: Cedar) -> None:
    checks = []
    for start, step, _ in _values(OFFSETS):
        checks.append(_offset_check(Datetime(start), Duration(step)))
    for later, earlier, _ in _values(DURATIONS_SINCE):
        checks.append(_duration_since_check(Datetime(later), Datetime(earlier)))
    for ms, _ in _values(TO_DATES):
        checks.append(_to_date_check(Datetime(ms)))
    for ms, _ in _values(TO_TIMES):
        dt = Datetime(ms)
        checks.append(Check(f"{dt.to_cedar()}.toTime() == {to_time(dt).to_cedar()}"))
    for ms, _ in _values(DURATION_UNITS):
        checks.extend(_duration_unit_checks(Duration(ms)))
    for ms, cedar_text in _values(DATETIME_CEDAR):
        checks.append(Check(f"{cedar_text} == {EPOCH_PLUS.format(ms)}"))
    cedar.assert_agrees(checks)


def _offset_check(dt: Datetime, d: Duration) -> Check:
    expr = f"{dt.to_cedar()}.offset({d.to_cedar()})"
    try:
        return Check(f"{expr} == {offset(dt, d).to_cedar()}")
    except ExtensionError:
        return Check(f"{expr} == {expr}", "overflow")


def _duration_since_check(a: Datetime, b: Datetime) -> Check:
    expr = f"{a.to_cedar()}.durationSince({b.to_cedar()})"
    try:
        return Check(f"{expr} == {duration_since(a, b).to_cedar()}")
    except ExtensionError:
        return Check(f"{expr} == {expr}", "overflow")


def _to_date_check(dt: Datetime) -> Check:
    expr = f"{dt.to_cedar()}.toDate()"
    try:
        return Check(f"{expr} == {to_date(dt).to_cedar()}")
    except ExtensionError:
        return Check(f"{expr} == {expr}", "overflow")


def _duration_unit_checks(d: Duration) -> list[Check]:
    methods = {
        "toMilliseconds": d.to_milliseconds(),
        "toSeconds": d.to_seconds(),
        "toMinutes": d.to_minutes(),
        "toHours": d.to_hours(),
        "toDays": d.to_days(),
    }
    return [Check(f"{d.to_cedar()}.{name}() == {value}") for name, value in methods.items()]


# Near-valid strings: a structured generator for each syntax, then up to two random edits
# (insert, delete or replace one character) drawn from the characters that syntax uses.


@st.composite
def _edited(draw: st.DrawFn, base: st.SearchStrategy[str], alphabet: str) -> str:
    s = draw(base)
    for _ in range(draw(st.sampled_from([0, 0, 1, 2]))):
        i = draw(st.integers(0, len(s)))
        c = draw(st.sampled_from(alphabet))
        kind = draw(st.sampled_from(["insert", "delete", "replace"]))
        if kind == "insert":
            s = s[:i] + c + s[i:]
        elif kind == "delete":
            s = s[:i] + s[i + 1 :]
        else:
            s = s[:i] + c + s[i + 1 :]
    return s


@st.composite
def _decimal_texts(draw: st.DrawFn) -> str:
    value = draw(
        st.one_of(
            st.integers(-(10**8), 10**8),
            st.integers(I64_MIN - 10**5, I64_MAX + 10**5),
            st.integers(I64_MAX - 10, I64_MAX + 10),
            st.integers(I64_MIN - 10, I64_MIN + 10),
        )
    )
    whole, frac = divmod(abs(value), 10_000)
    digits = draw(st.integers(1, 5))
    frac_text = f"{frac:04d}"[:digits].ljust(digits, "0")
    zeros = "0" * draw(st.integers(0, 2))
    sign = "-" if value < 0 or (value == 0 and draw(st.booleans())) else ""
    return f"{sign}{zeros}{whole}.{frac_text}"


DECIMAL_TEXTS = _edited(_decimal_texts(), "0123456789.-+e ١")


@st.composite
def _ip_texts(draw: st.DrawFn) -> str:
    wild = draw(st.integers(0, 2)) == 0  # out-of-range numbers and over-long digit strings
    if draw(st.booleans()):
        octets = draw(st.lists(st.integers(0, 300 if wild else 255), min_size=4, max_size=4))
        formats = ["{}", "0{}", "{:03d}"] if wild else ["{}"]
        address = ".".join(draw(st.sampled_from(formats)).format(o) for o in octets)
        width = 32
    else:
        group = st.one_of(st.just(0), st.integers(0, 0xFF), st.integers(0, 0xFFFF))
        groups = draw(st.lists(st.integers(0, 0x1FFFF) if wild else group, min_size=8, max_size=8))
        formats = ["{:x}", "{:X}", "{:04x}", "{:05x}"] if wild else ["{:x}", "{:X}", "{:04x}"]
        texts = [draw(st.sampled_from(formats)).format(g) for g in groups]
        if draw(st.booleans()):
            start = draw(st.integers(0, 8))
            end = draw(st.integers(min(start + 1, 8) if not wild else start, 8))
            address = ":".join(texts[:start]) + "::" + ":".join(texts[end:])
        else:
            address = ":".join(texts)
        width = 128
    if draw(st.booleans()):
        prefix = draw(st.integers(0, width + 8 if wild else width))
        address += "/" + draw(st.sampled_from(["0{}"] if wild else ["{}"])).format(prefix)
    return address


IP_TEXTS = _edited(_ip_texts(), "0123456789abcdefABCDEFg:./ ")


@st.composite
def _datetime_texts(draw: st.DrawFn) -> str:
    def field(valid: int, width: int, low: int = 0) -> str:
        valid_value = st.integers(low, valid)
        value = draw(st.one_of(valid_value, valid_value, st.integers(0, 10**width - 1)))
        return f"{value:0{width}d}"

    year = draw(st.one_of(st.integers(0, 9999), st.sampled_from([0, 1900, 2000, 2024, 9999])))
    text = f"{year:04d}-{field(12, 2, 1)}-{field(28, 2, 1)}"
    if draw(st.integers(0, 3)) == 0:
        return text
    text += f"T{field(23, 2)}:{field(59, 2)}:{field(59, 2)}"
    if draw(st.booleans()):
        text += f".{field(999, 3)}"
    if draw(st.booleans()):
        return text + "Z"
    return text + draw(st.sampled_from("+-")) + field(23, 2) + field(59, 2)


DATETIME_TEXTS = _edited(_datetime_texts(), "0123456789-:TZ.+ ")


@st.composite
def _duration_texts(draw: st.DrawFn) -> str:
    numbers = st.one_of(st.integers(0, 999), st.integers(0, 2**64 + 5))
    parts = [f"{draw(numbers)}{unit}" for unit in ("d", "h", "m", "s", "ms") if draw(st.booleans())]
    return ("-" if draw(st.booleans()) else "") + "".join(parts)


DURATION_TEXTS = _edited(_duration_texts(), "0123456789dhms- ")


@CEDAR_SETTINGS
@given(st.lists(DECIMAL_TEXTS, min_size=20, max_size=40))
def test_cedar_agrees_on_decimal_parsing(cedar: Cedar, texts: list[str]) -> None:
    cedar.assert_agrees(decimal_check(s) for s in texts)


@CEDAR_SETTINGS
@given(st.lists(IP_TEXTS, min_size=20, max_size=40))
def test_cedar_agrees_on_ip_parsing(cedar: Cedar, texts: list[str]) -> None:
    cedar.assert_agrees(ip_check(s) for s in texts)


@CEDAR_SETTINGS
@given(st.lists(DATETIME_TEXTS, min_size=20, max_size=40))
def test_cedar_agrees_on_datetime_parsing(cedar: Cedar, texts: list[str]) -> None:
    cedar.assert_agrees(datetime_check(s) for s in texts)


@CEDAR_SETTINGS
@given(st.lists(DURATION_TEXTS, min_size=20, max_size=40))
def test_cedar_agrees_on_duration_parsing(cedar: Cedar, texts: list[str]) -> None:
    cedar.assert_agrees(duration_check(s) for s in texts)


DECIMAL_VALUES = st.one_of(
    st.integers(I64_MIN, I64_MAX),
    st.integers(-20_000, 20_000),
    st.sampled_from([I64_MIN, I64_MIN + 1, -1, 0, 1, I64_MAX - 1, I64_MAX]),
).map(Decimal)


@CEDAR_SETTINGS
@given(st.lists(DECIMAL_VALUES, min_size=2, max_size=8))
def test_cedar_agrees_on_decimal_comparisons(cedar: Cedar, values: list[Decimal]) -> None:
    checks = []
    for a in values:
        for b in values:
            for method, holds in (
                ("lessThan", a < b),
                ("lessThanOrEqual", a <= b),
                ("greaterThan", a > b),
                ("greaterThanOrEqual", a >= b),
            ):
                checks.append(
                    Check(f"{a.to_cedar()}.{method}({b.to_cedar()}) == {cedar_bool(holds)}")
                )
            checks.append(Check(f"({a.to_cedar()} == {b.to_cedar()}) == {cedar_bool(a == b)}"))
    cedar.assert_agrees(checks)


@CEDAR_SETTINGS
@given(st.lists(_ip_values(), min_size=2, max_size=8))
def test_cedar_agrees_on_ip_operations(cedar: Cedar, values: list[IPAddr]) -> None:
    checks = []
    for a in values:
        for method, holds in (
            ("isIpv4", a.is_ipv4()),
            ("isIpv6", a.is_ipv6()),
            ("isLoopback", a.is_loopback()),
            ("isMulticast", a.is_multicast()),
        ):
            checks.append(Check(f"{a.to_cedar()}.{method}() == {cedar_bool(holds)}"))
        for b in values:
            in_range = a.is_in_range(b)
            checks.append(
                Check(f"{a.to_cedar()}.isInRange({b.to_cedar()}) == {cedar_bool(in_range)}")
            )
            checks.append(Check(f"({a.to_cedar()} == {b.to_cedar()}) == {cedar_bool(a == b)}"))
    cedar.assert_agrees(checks)


MILLISECONDS = st.one_of(
    st.integers(I64_MIN, I64_MAX),
    st.integers(YEAR_0 - 2 * DAY, YEAR_0 + 2 * DAY),
    st.integers(YEAR_10000 - 2 * DAY, YEAR_10000 + 2 * DAY),
    st.integers(-3 * DAY, 3 * DAY),
    st.sampled_from([I64_MIN, I64_MIN + 1, -1, 0, 1, I64_MAX - 1, I64_MAX]),
)


@CEDAR_SETTINGS
@given(st.lists(MILLISECONDS, min_size=2, max_size=6), st.lists(MILLISECONDS, max_size=6))
def test_cedar_agrees_on_datetime_operations(
    cedar: Cedar, instants: list[int], spans: list[int]
) -> None:
    datetimes = [Datetime(ms) for ms in instants]
    durations = [Duration(ms) for ms in spans]
    checks = []
    for dt in datetimes:
        checks.append(_to_date_check(dt))
        checks.append(Check(f"{dt.to_cedar()}.toTime() == {to_time(dt).to_cedar()}"))
        checks.append(Check(f"{dt.to_cedar()} == {EPOCH_PLUS.format(dt.ms)}"))
        checks.extend(_offset_check(dt, d) for d in durations)
        for other in datetimes:
            checks.append(_duration_since_check(dt, other))
            checks.append(
                Check(f"({dt.to_cedar()} < {other.to_cedar()}) == {cedar_bool(dt < other)}")
            )
    for span in durations:
        checks.extend(_duration_unit_checks(span))
        for longer in durations:
            holds = cedar_bool(span <= longer)
            checks.append(Check(f"({span.to_cedar()} <= {longer.to_cedar()}) == {holds}"))
    cedar.assert_agrees(checks)
