"""Destination resolution and export recognition (flowwatch.regions; docs/regions.md).

IP expectations are checked against iptocc's RIR delegation table (``test_reference_ips_in_the_table``
guards them): 114.114.114.114 (114DNS) and 223.5.5.5 (AliDNS) CN, 2400:3200::1 (AliDNS IPv6) CN,
202.45.84.58 and 203.198.23.77 HK, 202.175.84.30 (CTM) MO, 168.95.1.1 (HiNet) TW, 8.8.8.8 and
2001:4860:4860::8888 (Google) US.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from flowwatch import regions
from flowwatch.models import Destination, FlowEvent
from flowwatch.regions import (
    INTERNAL,
    REASON_DOMESTIC,
    REASON_INTERNAL,
    REASON_NOT_A_TRANSFER,
    REASON_OUTSIDE,
    REASON_REMOTE_ACCESS,
    REASON_UNKNOWN,
    Resolution,
    export_kind,
    in_gba,
    is_outside_mainland,
    onward_transfers,
    resolve_destination,
    resolve_host,
    resolve_ip,
)

REFERENCE_IPS = {
    "114.114.114.114": "CN",
    "223.5.5.5": "CN",
    "2400:3200::1": "CN",
    "202.45.84.58": "HK",
    "203.198.23.77": "HK",
    "202.175.84.30": "MO",
    "168.95.1.1": "TW",
    "8.8.8.8": "US",
    "2001:4860:4860::8888": "US",
}


def flow(destination: dict[str, Any] | None, activity: str | None = "export") -> FlowEvent:
    """A minimal transfer event from Shenzhen with the given destination."""
    doc: dict[str, Any] = {
        "schema_version": "1.0",
        "event_id": "evt-1",
        "kind": "transfer",
        "occurred_at": "2026-11-20T09:30:00+08:00",
        "processor": {"id": "p-a"},
        "source": {"region": "CN-GD", "city": "深圳"},
    }
    if destination is not None:
        doc["destination"] = destination
    if activity is not None:
        doc["activity"] = activity
    return FlowEvent.model_validate(doc)


def test_reference_ips_in_the_table() -> None:
    # Guards the fixtures: a package upgrade that moves these blocks should fail here, loudly.
    for ip, country in REFERENCE_IPS.items():
        assert regions._ip().country(ip) == country, ip


def test_ip_table_detail_names_package_and_date() -> None:
    detail = regions.ip_table_detail()
    assert detail.startswith("iptocc ")
    assert "built 20" in detail


# --- resolve_destination --------------------------------------------------------------------------


def test_declared_region_wins_over_ip_and_host() -> None:
    res = resolve_destination(Destination(region="CN-GD", ip="8.8.8.8", host="api.example.com.hk"))
    assert res == Resolution("CN-GD", "declared", "destination.region")


@pytest.mark.parametrize("ip", sorted(REFERENCE_IPS))
def test_ip_fallback(ip: str) -> None:
    res = resolve_destination(Destination(ip=ip))
    assert (res.region, res.basis) == (REFERENCE_IPS[ip], "ip")
    assert "iptocc" in res.detail


def test_ip_beats_host() -> None:
    res = resolve_destination(Destination(ip="8.8.8.8", host="api.example.cn"))
    assert (res.region, res.basis) == ("US", "ip")


def test_ipv4_mapped_ipv6_address() -> None:
    assert resolve_ip("::ffff:114.114.114.114").region == "CN"


@pytest.mark.parametrize(
    "ip",
    [
        "10.1.2.3",
        "172.20.0.1",
        "192.168.1.1",
        "127.0.0.1",
        "169.254.1.1",
        "100.64.0.1",
        "::1",
        "fe80::1",
        "fd00::1",
        "fe80::1%eth0",
    ],
)
def test_private_ip_is_internal(ip: str) -> None:
    res = resolve_destination(Destination(ip=ip))
    assert (res.region, res.basis) == (INTERNAL, "ip")
    assert res.internal
    assert is_outside_mainland(res.region) is False


def test_host_with_a_region_beats_a_private_ip() -> None:
    res = resolve_destination(Destination(ip="10.0.0.8", host="api.shopfast.com.sg"))
    assert (res.region, res.basis) == ("SG", "host")
    assert "10.0.0.8" in res.detail


def test_private_ip_with_generic_host_stays_internal() -> None:
    res = resolve_destination(Destination(ip="10.0.0.8", host="api.example.com"))
    assert res.region == INTERNAL


@pytest.mark.parametrize("ip", ["not-an-ip", "999.1.1.1", "192.0.2.1", "2001:db8::1"])
def test_unparsable_or_undelegated_ip_falls_back_to_host(ip: str) -> None:
    assert resolve_destination(Destination(ip=ip)).region is None
    res = resolve_destination(Destination(ip=ip, host="wms.gangtong.com.hk"))
    assert (res.region, res.basis) == ("HK", "host")


@pytest.mark.parametrize(
    ("host", "region"),
    [
        ("api.xunda-wl.cn", "CN"),
        ("kyc.huiyan-id.com.cn", "CN"),
        ("wms.gangtong.com.hk", "HK"),
        ("ride.macau-go.com.mo", "MO"),
        ("tour.formosa-trip.tw", "TW"),
        ("upload.hcr-research.de", "DE"),
        ("api.foo.co.uk", "GB"),
        ("例子.中国", "CN"),
        ("shop.香港", "HK"),
        ("HTTPS://User@API.Shopfast.COM.SG:8443/v1?x=1", "SG"),
        ("api.xunda-wl.cn.", "CN"),
        # cloud endpoints that name their region
        ("bucket.oss-cn-hangzhou.aliyuncs.com", "CN-ZJ"),
        ("bucket.oss-cn-shenzhen-internal.aliyuncs.com", "CN-GD"),
        ("oss-cn-hongkong.aliyuncs.com", "HK"),
        ("bucket.oss-ap-southeast-1.aliyuncs.com", "SG"),
        ("oss-us-west-1.aliyuncs.com", "US"),
        ("s3.us-east-1.amazonaws.com", "US"),
        ("my-bucket.s3.eu-central-1.amazonaws.com", "DE"),
        ("s3-us-west-2.amazonaws.com", "US"),
        ("ec2-54-169-32-11.ap-southeast-1.compute.amazonaws.com", "SG"),
        ("s3.ap-east-1.amazonaws.com", "HK"),
        ("s3.cn-north-1.amazonaws.com.cn", "CN-BJ"),
        ("something.amazonaws.com.cn", "CN"),
        ("bucket-1250000000.cos.ap-guangzhou.myqcloud.com", "CN-GD"),
        ("bucket-1250000000.cos.ap-hongkong.myqcloud.com", "HK"),
        ("obs.ap-southeast-1.myhuaweicloud.com", "HK"),  # Huawei's ap-southeast-1 is Hong Kong
        ("obs.cn-north-4.myhuaweicloud.com", "CN-BJ"),
    ],
)
def test_host_fallback(host: str, region: str) -> None:
    res = resolve_destination(Destination(host=host))
    assert (res.region, res.basis) == (region, "host"), res.detail


@pytest.mark.parametrize(
    "host",
    [
        "api.example.com",
        "storage.googleapis.com",
        "acct.blob.core.windows.net",
        "s3.amazonaws.com",
        "dysmsapi.aliyuncs.com",
        "startup.io",
        "d111111abcdef8.cloudfront.net",
        "example.shop",
        "a..b",
        "",
    ],
)
def test_unknown_generic_host(host: str) -> None:
    res = resolve_host(host)
    assert (res.region, res.basis) == (None, "unknown"), res.detail
    assert res.detail


@pytest.mark.parametrize("host", ["localhost", "orders-db", "kafka-0.kafka.svc.cluster.local", "nas.lan"])
def test_internal_host_names(host: str) -> None:
    assert resolve_host(host).region == INTERNAL


@pytest.mark.parametrize(
    ("host", "region"), [("114.114.114.114", "CN"), ("[2400:3200::1]:443", "CN"), ("10.0.0.1:9092", INTERNAL)]
)
def test_literal_ip_in_host(host: str, region: str) -> None:
    res = resolve_destination(Destination(host=host))
    assert (res.region, res.basis) == (region, "ip")
    assert res.detail.startswith("literal IP in host")


def test_no_destination_or_nothing_to_go_on() -> None:
    assert resolve_destination(None) == Resolution(None, "unknown", "no destination")
    res = resolve_destination(Destination(recipient="Acme Inc."))
    assert (res.region, res.basis) == (None, "unknown")


# --- is_outside_mainland / in_gba / onward --------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "outside"),
    [
        ("CN", False),
        ("CN-GD", False),
        ("CN-BJ", False),
        ("HK", True),
        ("MO", True),
        ("TW", True),
        ("CN-HK", True),
        ("CN-MO", True),
        ("CN-TW", True),
        ("US", True),
        ("SG", True),
        ("EU", True),
        (INTERNAL, False),
        (None, None),
        ("", None),
    ],
)
def test_is_outside_mainland(region: str | None, outside: bool | None) -> None:
    assert is_outside_mainland(region) is outside


@pytest.mark.parametrize(
    ("region", "city", "inside"),
    [
        ("HK", None, True),
        ("CN-HK", None, True),
        ("MO", None, False),
        ("TW", None, False),
        ("US", None, False),
        ("CN-GD", "深圳", True),
        ("CN-GD", "深圳市", True),
        ("CN-GD", "Dongguan", True),
        ("CN-GD", "汕头", False),
        ("CN-GD", None, None),
        ("CN", "广州", True),
        ("CN", None, None),
        ("CN-BJ", None, False),
        (None, None, None),
    ],
)
def test_in_gba(region: str | None, city: str | None, inside: bool | None) -> None:
    assert in_gba(region, city) is inside


def test_onward_transfers() -> None:
    onward = onward_transfers(["HK", "CN-GD", "CN-BJ", "MO", "US", "US"])
    assert onward.regions == ("HK", "CN-GD", "CN-BJ", "MO", "US")
    assert onward.outside_mainland == ("HK", "MO", "US")
    assert onward.outside_gba == ("CN-BJ", "MO", "US")
    assert onward.gba_undetermined == ("CN-GD",)
    assert onward.any_outside_mainland
    assert not onward_transfers(None).any_outside_mainland
    assert not onward_transfers(["CN-SH"]).any_outside_mainland


# --- export_kind ----------------------------------------------------------------------------------


@pytest.mark.parametrize("region", ["HK", "MO", "TW", "US", "SG"])
def test_hk_mo_tw_and_foreign_are_exports(region: str) -> None:
    kind = export_kind(flow({"region": region}, "provide"))
    assert (kind.is_export, kind.reason, kind.location_of) == (True, REASON_OUTSIDE, "recipient")


def test_subdivision_is_domestic() -> None:
    kind = export_kind(flow({"region": "CN-GD", "city": "广州"}, "provide"))
    assert (kind.is_export, kind.reason) == (False, REASON_DOMESTIC)
    assert kind.destination_in_gba is True


def test_export_resolved_from_ip() -> None:
    kind = export_kind(flow({"recipient": "港通仓储", "ip": "203.198.23.77"}))
    assert (kind.is_export, kind.reason) == (True, REASON_OUTSIDE)
    assert (kind.resolution.region, kind.resolution.basis) == ("HK", "ip")
    assert kind.destination_in_gba is True


def test_remote_access_from_a_foreign_accessor_is_an_export() -> None:
    kind = export_kind(flow({"recipient": "MedInsight AI Inc.", "host": "api.medinsight-ai.us"}, "remote_access"))
    assert (kind.is_export, kind.reason, kind.location_of) == (True, REASON_REMOTE_ACCESS, "accessor")
    assert kind.resolution.region == "US"


def test_remote_access_from_the_mainland_is_domestic() -> None:
    kind = export_kind(flow({"region": "CN-SH"}, "remote_access"))
    assert (kind.is_export, kind.reason, kind.location_of) == (False, REASON_DOMESTIC, "accessor")


def test_unknown_destination() -> None:
    for destination in (None, {"recipient": "Acme Inc."}, {"host": "api.example.com"}):
        kind = export_kind(flow(destination))
        assert (kind.is_export, kind.reason) == (None, REASON_UNKNOWN)
        assert kind.resolution.region is None


def test_internal_network_is_not_an_export() -> None:
    kind = export_kind(flow({"ip": "10.8.0.12"}, "store"))
    assert (kind.is_export, kind.reason) == (False, REASON_INTERNAL)


def test_delete_is_not_a_transfer() -> None:
    kind = export_kind(flow({"region": "US"}, "delete"))
    assert (kind.is_export, kind.reason) == (False, REASON_NOT_A_TRANSFER)


def test_export_kind_exposes_onward_regions() -> None:
    kind = export_kind(flow({"region": "HK", "onward_regions": ["GB", "CN-GD"]}))
    assert kind.onward.outside_mainland == ("GB",)
    assert kind.onward.outside_gba == ("GB",)


# --- data file and concurrency --------------------------------------------------------------------


def test_rules_file_rejects_a_bad_region_code() -> None:
    with pytest.raises(ValueError, match="not an ISO 3166 region code"):
        regions._parse_rules({"suffixes": {"example.com": "usa"}})


def test_concurrent_first_use_loads_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(regions, "_ip_table", None)
    monkeypatch.setattr(regions, "_host_rules", None)
    regions.resolve_ip.cache_clear()
    regions.resolve_host.cache_clear()
    loads = 0

    class Counting(regions._IpTable):
        def __init__(self) -> None:
            nonlocal loads
            loads += 1
            super().__init__()

    monkeypatch.setattr(regions, "_IpTable", Counting)
    results: list[str | None] = []
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        results.append(resolve_ip("223.5.5.5").region)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loads == 1
    assert results == ["CN"] * 8
    regions.resolve_ip.cache_clear()
