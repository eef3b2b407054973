"""IP_ADDRESS: IPv4 and IPv6 addresses, also when they touch Chinese characters (``来自192.168.1.10登录``)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

from flowwatch.detection.types import Match, Recognizer

# What a version number, product token or section number looks like just before the match.
_VERSION_BEFORE = re.compile(
    r"(?:(?<![A-Za-z])(?:[vV]|(?i:ver(?:sion)?)\.?)|版本号?|[A-Za-z][A-Za-z0-9_.-]*/)\s*[:：=]?\s*$"
)
_LOOK_BEHIND = 12


class IpAddressRecognizer(Recognizer):
    """IP address, validated with the standard library's ``ipaddress`` (RFC 791 / RFC 4291 text forms).

    * IPv4: dotted quad; an octet with a leading zero (``192.168.01.1``, which some parsers read as
      octal) is rejected, as ``ipaddress`` does since Python 3.9.5;
    * IPv6: hex groups and colons (a colon within the first 5 characters), ``::`` compression and an
      embedded IPv4 tail. Times (``12:30:45``) and MAC addresses are not valid IPv6 addresses; IPv4-mapped
      addresses are scored as their IPv4 address.

    The address may touch Chinese characters, punctuation or the label ``IP`` (``登录IP192.168.1.10``),
    not other ASCII letters or digits. Rejected: unspecified, loopback, multicast and reserved addresses
    (``0.0.0.0``, ``127.0.0.1``, ``255.255.255.0`` netmasks, most of the IPv6 space outside 2000::/3),
    0.x.x.x, and dotted quads read as versions: preceded by ``v``, ``版本``, ``version`` or a product token
    (``Chrome/120.0.0.0``) — the negative context words 版本/version lower them as well.

    Scores: 0.7 for a globally routable address, 0.6 for private, link-local, shared (CGN) and
    documentation ones — both are online identifiers. A dotted quad of single digits (``1.2.3.4``) is a
    section or version number as often as an address: 0.45, needs context (IP, 登录地址 …). An address is
    shared by many people (NAT, proxies): no subject key.
    """

    min_digits = 1
    entity = "IP_ADDRESS"
    # The first character is matched before the boundary checks, which then look at the character before
    # it: a pattern that opens with a character class lets ``re`` skip ahead to candidate characters.
    pattern = re.compile(
        r"[0-9A-Fa-f:](?:(?<![0-9A-Za-z][0-9A-Fa-f:])|(?<=[Ii][Pp][0-9A-Fa-f:]))"  # "登录IP192.168.1.10" too
        r"(?:(?<=[0-9])(?<![0-9]\.[0-9])(?P<v4>[0-9]{0,2}(?:\.[0-9]{1,3}){3})(?![0-9A-Za-z])"
        r"|(?<![:.][0-9A-Fa-f:])(?P<v6>[0-9A-Fa-f]{0,3}:[0-9A-Fa-f:]{1,37}(?:(?<=:)[0-9]{1,3}(?:\.[0-9]{1,3}){3})?)"
        r"(?![0-9A-Za-z:]))(?!\.[0-9])"
    )

    def could_match(self, text: str, digits: int) -> bool:
        """IPv4 needs 4 digits and a ``.``; IPv6 a digit and a ``:``."""
        return (digits >= 4 and "." in text) or (digits >= 1 and ":" in text)

    def analyze(self, text: str) -> Iterator[Match]:
        """Validated addresses that are not written as version numbers (a colon ending a sentence is dropped)."""
        for m in self.pattern.finditer(text):
            start, value = m.start(), m.group(0)
            if _VERSION_BEFORE.search(text, max(0, start - _LOOK_BEHIND), start):
                continue
            if value.endswith(":") and not value.endswith("::"):  # "2001:db8::1: blocked"
                value = value[:-1]
            score = self.validate(value)
            if score > 0:
                yield Match(self.entity, start, start + len(value), score, value)

    def validate(self, value: str) -> float:
        """0.7 global, 0.6 private and other non-global unicast, 0.45 for single-digit quads, 0 otherwise."""
        try:
            address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(value)
        except ValueError:
            return 0.0
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address.is_unspecified or address.is_loopback or address.is_multicast or address.is_reserved:
            return 0.0
        if address.version == 4:
            quad = str(address)
            if quad.startswith("0."):  # "this network": a source address only, never a host's
                return 0.0
            if len(quad) == 7:  # four single-digit octets
                return 0.45
        return 0.7 if address.is_global else 0.6
