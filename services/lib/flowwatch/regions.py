"""Where a flow goes, resolved offline, and whether it is an export (issue 5 item 1; docs/regions.md).

The destination region is taken, in this order, from

1. ``destination.region`` as declared by the platform (basis ``declared``);
2. ``destination.ip`` through the offline IP-to-country table of the ``iptocc`` package (basis ``ip``).
   Private, loopback, link-local and shared (CGNAT) addresses resolve to :data:`INTERNAL`: the processor's
   own network, not an export. A host name that resolves to a region still wins over an internal address;
3. ``destination.host`` (basis ``host``): a literal IP in it goes through the IP table (basis ``ip``), else
   the rules of ``regions.yaml``: internal names (``localhost``, ``*.svc.cluster.local``, single labels),
   cloud endpoints that name their region (``oss-cn-hangzhou.aliyuncs.com``),
   known host suffixes (``amazonaws.com.cn``), then the country-code TLD (``.cn``, ``.hk``, ``.de`` …).
   Generic TLDs (``.com``) and generic-use ccTLDs (``.io``) are unknown.

Mainland China is ``CN`` and its subdivisions ``CN-xx``; ``HK``, ``MO``, ``TW`` (also as ``CN-HK``, ``CN-MO``,
``CN-TW``) and every other code are outside it (docs/regions.md, "Rule": no text defines 境外 in general; the
GBA Guideline Art. 2 calls Mainland–Hong Kong flows 个人信息跨境流动).

For ``remote_access`` the destination is the accessor: the event contract has one location for the other
party of a flow, and for remote access that party is whoever reads the data (the sample generator emits the
foreign accessor there). ``source.region`` is where the data sits. See docs/regions.md.

Everything is loaded lazily on first use, once, under a lock; lookups take microseconds.
"""

from __future__ import annotations

import ipaddress
import json
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import Any, Literal

import yaml

from flowwatch.models import Activity, Destination, FlowEvent

Basis = Literal["declared", "ip", "host", "unknown"]
"""How a region was found: declared by the platform, from the IP, from the host name, or not at all."""

INTERNAL = "internal"
"""Pseudo-region of private, loopback, link-local and shared addresses: the processor's own network."""

REASON_OUTSIDE = "destination outside mainland"
REASON_REMOTE_ACCESS = "remote access from outside"
REASON_DOMESTIC = "domestic"
REASON_INTERNAL = "internal network"
REASON_UNKNOWN = "unknown destination"
REASON_NOT_A_TRANSFER = "not a transfer"

_OUTSIDE_SUBDIVISIONS = frozenset({"CN-HK", "CN-MO", "CN-TW"})
_REGION_CODE = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")
_INTERNAL_CIDRS = (
    "10.0.0.0/8",  # RFC 1918
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",  # RFC 6598 shared address space (carrier-grade NAT)
    "127.0.0.0/8",  # loopback
    "169.254.0.0/16",  # link-local
    "0.0.0.0/8",  # "this network"
    "::1/128",
    "::/128",
    "fc00::/7",  # unique local
    "fe80::/10",  # link-local
)
_INTERNAL_NETWORKS = tuple(
    (net.version, int(net.network_address), int(net.netmask)) for net in map(ipaddress.ip_network, _INTERNAL_CIDRS)
)
_CACHE_SIZE = 65_536


@dataclass(frozen=True, slots=True)
class Resolution:
    """Where a destination is: ``region`` (ISO 3166-1 alpha-2, optionally ``CN-GD``; :data:`INTERNAL`; or
    ``None`` when unknown), how it was found (``basis``) and the evidence (``detail``: the field, the IP
    table and its date, or the host rule used)."""

    region: str | None
    basis: Basis
    detail: str

    @property
    def internal(self) -> bool:
        """True for the processor's own network (private, loopback, link-local address)."""
        return self.region == INTERNAL


@dataclass(frozen=True, slots=True)
class OnwardTransfers:
    """``destination.onward_regions`` sorted into what later rules need (GBA Guideline Art. 4: no provision to
    organisations or individuals outside the GBA).

    ``outside_gba`` holds the codes certainly outside the Greater Bay Area; ``gba_undetermined`` those that
    may be inside it but need a city (``CN``, ``CN-GD``).
    """

    regions: tuple[str, ...] = ()
    outside_mainland: tuple[str, ...] = ()
    outside_gba: tuple[str, ...] = ()
    gba_undetermined: tuple[str, ...] = ()

    @property
    def any_outside_mainland(self) -> bool:
        """True when the recipient passes the data on to anywhere outside mainland China."""
        return bool(self.outside_mainland)


@dataclass(frozen=True, slots=True)
class ExportKind:
    """Whether a flow event is an export (``is_export``; ``None`` = destination unknown) and why.

    ``location_of`` tells whose location ``resolution`` is: the recipient's, or for ``remote_access`` the
    accessor's. ``destination_in_gba`` uses the resolved region and ``destination.city`` (see :func:`in_gba`).
    """

    is_export: bool | None
    reason: str
    resolution: Resolution
    location_of: Literal["recipient", "accessor"]
    onward: OnwardTransfers
    destination_in_gba: bool | None


# ---------------------------------------------------------------------------------------------------
# The IP table (iptocc: RIR delegation data embedded in the wheel)
# ---------------------------------------------------------------------------------------------------


class _IpTable:
    """The ``iptocc`` lookup and a description of its data (package version and build date)."""

    def __init__(self) -> None:
        from importlib.metadata import PackageNotFoundError, distribution

        from iptocc import country_code

        self._country_code = country_code
        try:
            dist = distribution("iptocc")
            version = dist.version
            built = _sbom_date(dist.read_text("sboms/iptocc-py.cyclonedx.json"))
        except PackageNotFoundError:  # pragma: no cover - vendored or renamed install
            version, built = "?", None
        self.detail = f"iptocc {version} (RIR delegations, built {built or 'date unknown'})"

    def country(self, address: str) -> str | None:
        """ISO 3166-1 alpha-2 code the RIRs delegated ``address`` to, or ``None``."""
        code = self._country_code(address)
        return code.upper() if code else None


def _sbom_date(text: str | None) -> str | None:
    """Date (YYYY-MM-DD) of the wheel's CycloneDX SBOM, i.e. when the package and its table were built."""
    if not text:
        return None
    try:
        stamp = json.loads(text)["metadata"]["timestamp"]
    except (ValueError, KeyError, TypeError):
        return None
    return str(stamp)[:10] if stamp else None


# ---------------------------------------------------------------------------------------------------
# Host rules (regions.yaml)
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Provider:
    name: str
    strip_prefixes: tuple[str, ...]
    strip_suffixes: tuple[str, ...]
    regions: dict[str, str]

    def region_of(self, labels: list[str]) -> tuple[str, str] | None:
        """(region code, provider region name) from the labels before the provider suffix, nearest first."""
        for label in reversed(labels):
            for candidate in self._candidates(label):
                code = self.regions.get(candidate)
                if code is not None:
                    return code, candidate
        return None

    def _candidates(self, label: str) -> list[str]:
        found = [label]
        for prefix in self.strip_prefixes:
            if label.startswith(prefix):
                found.append(label[len(prefix) :])
                break
        for name in list(found):
            for suffix in self.strip_suffixes:
                if name.endswith(suffix):
                    found.append(name[: -len(suffix)])
        return found


@dataclass(frozen=True, slots=True)
class _HostRules:
    version: str
    providers: dict[str, _Provider]  # provider suffix -> provider
    suffixes: dict[str, str | None]
    internal_suffixes: frozenset[str]
    tld_aliases: dict[str, str | None]
    generic_cctlds: frozenset[str]
    gba_regions: frozenset[str]
    gba_province: str
    gba_cities: frozenset[str]


def _region_value(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _REGION_CODE.match(value):
        raise ValueError(f"regions.yaml {where}: {value!r} is not an ISO 3166 region code")
    return value


def _parse_rules(raw: dict[str, Any]) -> _HostRules:
    """Validate and index the YAML document; a malformed code fails loudly at load time."""
    providers: dict[str, _Provider] = {}
    for entry in raw.get("cloud_providers") or []:
        regions = {str(k).lower(): _region_value(v, f"{entry['name']}.{k}") for k, v in entry["regions"].items()}
        provider = _Provider(
            name=str(entry["name"]),
            strip_prefixes=tuple(sorted(entry.get("strip_prefixes") or [], key=len, reverse=True)),
            strip_suffixes=tuple(entry.get("strip_suffixes") or []),
            regions={k: v for k, v in regions.items() if v is not None},
        )
        for suffix in entry["suffixes"]:
            providers[str(suffix).lower()] = provider
    gba = raw.get("gba") or {}
    cities = frozenset(_city_key(name) for group in gba.get("cities") or [] for name in group)
    return _HostRules(
        version=str(raw.get("version", "?")),
        providers=providers,
        suffixes={str(k).lower(): _region_value(v, f"suffixes.{k}") for k, v in (raw.get("suffixes") or {}).items()},
        internal_suffixes=frozenset(str(s).lower() for s in raw.get("internal_suffixes") or []),
        tld_aliases={
            str(k).lower(): _region_value(v, f"tld_aliases.{k}") for k, v in (raw.get("tld_aliases") or {}).items()
        },
        generic_cctlds=frozenset(str(t).lower() for t in raw.get("generic_cctlds") or []),
        gba_regions=frozenset(str(r) for r in gba.get("regions") or []),
        gba_province=str(gba.get("province", "CN-GD")),
        gba_cities=cities,
    )


def _city_key(city: str) -> str:
    key = city.strip().lower()
    for tail in ("市", " city"):
        if key.endswith(tail):
            key = key[: -len(tail)].strip()
    return key


# ---------------------------------------------------------------------------------------------------
# Lazy, thread-safe loading
# ---------------------------------------------------------------------------------------------------

_lock = threading.Lock()
_ip_table: _IpTable | None = None
_host_rules: _HostRules | None = None


def _ip() -> _IpTable:
    global _ip_table
    table = _ip_table
    if table is None:
        with _lock:
            if _ip_table is None:
                _ip_table = _IpTable()
            table = _ip_table
    return table


def _rules() -> _HostRules:
    global _host_rules
    rules = _host_rules
    if rules is None:
        with _lock:
            if _host_rules is None:
                text = (files("flowwatch") / "regions.yaml").read_text(encoding="utf-8")
                _host_rules = _parse_rules(yaml.safe_load(text))
            rules = _host_rules
    return rules


def preload() -> None:
    """Load the IP table and the host rules now (call at worker start to keep the first event fast)."""
    _ip()
    _rules()


def ip_table_detail() -> str:
    """Name, version and build date of the IP-to-country table, e.g. for docs and ``detail``."""
    return _ip().detail


# ---------------------------------------------------------------------------------------------------
# Resolution
# ---------------------------------------------------------------------------------------------------


@lru_cache(maxsize=_CACHE_SIZE)
def resolve_ip(ip: str) -> Resolution:
    """Region of an IPv4 or IPv6 address: :data:`INTERNAL` for private, loopback and link-local addresses
    (basis ``ip``), the RIR country otherwise, or unknown (unparsable, reserved or undelegated address)."""
    text = ip.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return Resolution(None, "unknown", f"not an IP address: {ip!r}")
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    value = int(address)
    if any(v == address.version and value & mask == net for v, net, mask in _INTERNAL_NETWORKS):
        return Resolution(INTERNAL, "ip", f"{address} is a private/loopback/link-local address")
    table = _ip()
    code = table.country(str(address))
    if code is None:
        return Resolution(None, "unknown", f"{address} not in {table.detail}")
    return Resolution(code, "ip", f"{address} → {code} by {table.detail}")


def _host_name(host: str) -> str:
    """Bare lower-case host name of ``host``, tolerating a scheme, user info, port, path or final dot."""
    text = host.strip().lower()
    if "://" in text:
        text = text.split("://", 1)[1]
    text = re.split(r"[/?#]", text, maxsplit=1)[0]
    text = text.rsplit("@", 1)[-1]
    if text.startswith("["):
        return text[1 : text.find("]")] if "]" in text else text[1:]
    if text.count(":") == 1:
        text = text.split(":", 1)[0]
    return text.rstrip(".")


def _ascii_label(label: str) -> str:
    if label.isascii():
        return label
    try:
        return label.encode("idna").decode("ascii")
    except UnicodeError:
        return label


@lru_cache(maxsize=_CACHE_SIZE)
def resolve_host(host: str) -> Resolution:
    """Region of a host name: a literal IP goes through :func:`resolve_ip`; otherwise the ``regions.yaml``
    rules in order: cloud endpoint naming its region, known suffix, country-code TLD. Unknown when none
    applies (generic TLDs such as ``.com``)."""
    name = _host_name(host)
    try:
        ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        pass
    else:
        found = resolve_ip(name)
        detail = f"literal IP in host: {found.detail}"
        return Resolution(found.region, found.basis, detail)
    labels = [_ascii_label(label) for label in name.split(".")]
    if not name or any(not label for label in labels):
        return Resolution(None, "unknown", f"not a host name: {host!r}")
    rules = _rules()
    parents = [".".join(labels[i:]) for i in range(len(labels))]  # longest first
    if len(labels) == 1 or any(p in rules.internal_suffixes for p in parents):
        return Resolution(INTERNAL, "host", f"{name} is an internal host name")
    for i, parent in enumerate(parents[1:], start=1):
        provider = rules.providers.get(parent)
        if provider is not None:
            hit = provider.region_of(labels[:i])
            if hit is not None:
                return Resolution(hit[0], "host", f"{provider.name} region {hit[1]} in {name}")
    for parent in parents:
        if parent in rules.suffixes:
            region = rules.suffixes[parent]
            if region is None:
                return Resolution(None, "unknown", f"host suffix {parent} (location not in the name)")
            return Resolution(region, "host", f"host suffix {parent} → {region}")
    tld = labels[-1]
    if tld in rules.tld_aliases:
        region = rules.tld_aliases[tld]
        if region is None:
            return Resolution(None, "unknown", f"TLD .{tld} names no country")
        return Resolution(region, "host", f"TLD .{tld} → {region}")
    if tld in rules.generic_cctlds:
        return Resolution(None, "unknown", f"TLD .{tld} is used generically")
    if len(tld) == 2 and tld.isascii() and tld.isalpha():
        return Resolution(tld.upper(), "host", f"TLD .{tld} → {tld.upper()}")
    return Resolution(None, "unknown", f"generic TLD .{tld}")


def resolve_destination(destination: Destination | None) -> Resolution:
    """Region of a destination: declared ``region``, else ``ip``, else ``host`` (module docstring).

    An internal (private) ``ip`` yields :data:`INTERNAL` unless ``host`` resolves to a region: a private
    address is often a proxy or NAT hop, and the name says more about where the data ends up.
    """
    if destination is None:
        return Resolution(None, "unknown", "no destination")
    if destination.region:
        return Resolution(destination.region, "declared", "destination.region")
    notes: list[str] = []
    by_ip: Resolution | None = None
    if destination.ip:
        by_ip = resolve_ip(destination.ip)
        if by_ip.region is not None and not by_ip.internal:
            return by_ip
        notes.append(by_ip.detail)
    if destination.host:
        by_host = resolve_host(destination.host)
        if by_host.region is not None:
            if notes:
                return Resolution(by_host.region, by_host.basis, f"{by_host.detail}; {'; '.join(notes)}")
            return by_host
        notes.append(by_host.detail)
    if by_ip is not None and by_ip.internal:
        return Resolution(INTERNAL, "ip", "; ".join(notes))
    if not notes:
        return Resolution(None, "unknown", "destination has no region, ip or host")
    return Resolution(None, "unknown", "; ".join(notes))


def is_outside_mainland(region: str | None) -> bool | None:
    """True for HK, MO, TW (also CN-HK, CN-MO, CN-TW) and every non-CN code; False for CN, CN-xx and
    :data:`INTERNAL`; None when the region is unknown (docs/regions.md, "Rule")."""
    if not region:
        return None
    if region == INTERNAL:
        return False
    code = region.upper()
    if code in _OUTSIDE_SUBDIVISIONS:
        return True
    return not (code == "CN" or code.startswith("CN-"))


def in_gba(region: str | None, city: str | None = None) -> bool | None:
    """Whether a place is in the Greater Bay Area of the GBA standard contract (GBA Guideline Art. 2): Hong Kong
    or one of the nine mainland cities of Guangdong. ``None`` when ``region`` is unknown, or is ``CN`` /
    ``CN-GD`` without a ``city`` to tell. Macao, Taiwan and other countries are outside it."""
    if not region or region == INTERNAL:
        return None
    rules = _rules()
    code = region.upper()
    if code in rules.gba_regions or code.removeprefix("CN-") in rules.gba_regions:
        return True
    if is_outside_mainland(code):
        return False
    if code in ("CN", rules.gba_province):
        if not city:
            return None
        return _city_key(city) in rules.gba_cities
    return False


def onward_transfers(regions: list[str] | None) -> OnwardTransfers:
    """Sort ``destination.onward_regions`` into outside mainland / outside the GBA / undetermined."""
    if not regions:
        return OnwardTransfers()
    codes = tuple(dict.fromkeys(regions))
    gba = {code: in_gba(code) for code in codes}
    return OnwardTransfers(
        regions=codes,
        outside_mainland=tuple(c for c in codes if is_outside_mainland(c)),
        outside_gba=tuple(c for c in codes if gba[c] is False),
        gba_undetermined=tuple(c for c in codes if gba[c] is None),
    )


def export_kind(event: FlowEvent) -> ExportKind:
    """Whether ``event`` exports data from mainland China, with the evidence.

    - ``remote_access``: an export when the accessor (``destination``) is outside mainland China;
    - ``delete``: never (nothing is transferred): reason ``not a transfer``;
    - any other activity, or none: an export when the destination is outside mainland China.

    ``is_export`` is ``None`` with reason ``unknown destination`` when no region could be resolved; the
    caller raises the unknown-destination alert when the flow carries PI.
    """
    destination = event.destination
    resolution = resolve_destination(destination)
    onward = onward_transfers(destination.onward_regions if destination else None)
    remote = event.activity is Activity.REMOTE_ACCESS
    location_of: Literal["recipient", "accessor"] = "accessor" if remote else "recipient"
    gba = in_gba(resolution.region, destination.city if destination else None)

    def result(is_export: bool | None, reason: str) -> ExportKind:
        return ExportKind(is_export, reason, resolution, location_of, onward, gba)

    if event.activity is Activity.DELETE:
        return result(False, REASON_NOT_A_TRANSFER)
    outside = is_outside_mainland(resolution.region)
    if outside is None:
        return result(None, REASON_UNKNOWN)
    if outside:
        return result(True, REASON_REMOTE_ACCESS if remote else REASON_OUTSIDE)
    return result(False, REASON_INTERNAL if resolution.internal else REASON_DOMESTIC)
