"""The address guard as a pure function of (URL, resolved addresses): no resolver, no network."""

from __future__ import annotations

import ipaddress

import pytest

from asearcher.errors import ConfigError, ToolError
from asearcher.web.guard import AddressGuard, GuardError, address_refusal, parse_ip_literal

PUBLIC = ["93.184.216.34"]


@pytest.mark.parametrize("url, addresses, reason", [
    ("http://127.0.0.1/", [], "loopback"),
    ("http://127.0.0.1:8080/admin", [], "loopback"),
    ("http://localhost/", ["127.0.0.1"], "local or cloud-metadata name"),
    ("http://LOCALHOST./", ["127.0.0.1"], "local or cloud-metadata name"),
    ("http://api.localhost/", ["127.0.0.1"], "local or cloud-metadata name"),
    ("http://10.1.2.3/", [], "private"),
    ("http://172.16.0.1/", [], "private"),
    ("http://172.31.255.255/", [], "private"),
    ("http://192.168.1.1/", [], "private"),
    ("http://169.254.169.254/latest/meta-data/", [], "cloud-metadata"),
    ("http://169.254.10.10/", [], "link-local"),
    ("http://metadata.google.internal/computeMetadata/v1/", ["169.254.169.254"], "cloud-metadata name"),
    ("http://[::1]/", [], "loopback"),
    ("http://[::ffff:127.0.0.1]/", [], "loopback"),
    ("http://[::ffff:a9fe:a9fe]/", [], "cloud-metadata"),
    ("http://[fd00:ec2::254]/", [], "cloud-metadata"),
    ("http://[fe80::1]/", [], "link-local"),
    ("http://[fc00::1]/", [], "private"),
    ("http://[2002:0a00:0001::]/", [], "embeds"),  # 6to4 of 10.0.0.1
    ("http://[64:ff9b::7f00:1]/", [], "embeds"),  # NAT64 of 127.0.0.1
    ("http://100.64.0.1/", [], "carrier-grade NAT"),
    ("http://224.0.0.1/", [], "multicast"),
    ("http://240.0.0.1/", [], "private"),
    ("http://0.0.0.0/", [], "unspecified"),
    ("http://2130706433/", [], "loopback"),  # decimal 127.0.0.1
    ("http://0x7f.1/", [], "loopback"),
    ("http://017700000001/", [], "loopback"),
    ("http://127.1/", [], "loopback"),
    ("http://example.com/", ["10.0.0.5"], "resolves to a refused address: 10.0.0.5 is a private"),
    ("http://example.com/", ["93.184.216.34", "192.168.0.7"], "192.168.0.7 is a private"),  # ALL addresses
    ("http://example.com/", ["::ffff:10.0.0.1"], "embeds"),
    ("http://example.com/", [], "resolved to no address"),
    ("file:///etc/passwd", [], "scheme 'file'"),
    ("ftp://example.com/x", PUBLIC, "scheme 'ftp'"),
    ("gopher://example.com/", PUBLIC, "scheme"),
    ("javascript:alert(1)", [], "scheme"),
    ("//example.com/x", PUBLIC, "scheme"),
    ("http://user:pass@example.com/", PUBLIC, "credentials"),
    ("http://example.com@10.0.0.1/", [], "credentials"),
    ("http://example.com\\@10.0.0.1/", [], "credentials"),
    ("http:///nohost", [], "no host"),
    ("http://example.com:99999/", PUBLIC, "port"),
    ("http://%31%32%37.0.0.1/", [], "not a valid DNS name"),
    ("http://exa mple.com/", PUBLIC, "not a valid DNS name"),
    ("http://[::1/", [], "malformed"),
])
def test_refused(url, addresses, reason):
    with pytest.raises(GuardError) as e:
        AddressGuard().decide(url, addresses)
    assert reason in str(e.value)
    assert isinstance(e.value, ToolError)  # an observation for the model, not a crash


@pytest.mark.parametrize("url, addresses", [
    ("http://example.com/page", PUBLIC),
    ("https://EXAMPLE.com./a?b=c#frag", PUBLIC),
    ("https://example.com/", ["2606:2800:220:1:248:1893:25c8:1946"]),
    ("http://8.8.8.8/", []),
    ("http://[2606:4700::1111]:8443/x", []),
    ("http://bücher.example/", PUBLIC),
])
def test_public_allowed(url, addresses):
    ips = AddressGuard().decide(url, addresses)
    assert ips and all(ip.is_global for ip in ips)


def test_parse_normalizes_host_and_drops_fragment():
    t = AddressGuard().parse("HTTPS://WWW.Example.COM.:443/Path?q=1#section")
    assert (t.host, t.port, t.ip) == ("www.example.com", 443, None)
    assert str(t.url) == "https://www.example.com./Path?q=1"
    assert AddressGuard().parse("http://bücher.example/").host == "xn--bcher-kva.example"


def test_allow_list_opts_in_by_host_and_by_cidr():
    by_host = AddressGuard(allow_hosts=["site.test", "127.0.0.1", "localhost"])
    assert by_host.decide("http://site.test:8000/", ["127.0.0.1"]) == [ipaddress.ip_address("127.0.0.1")]
    assert by_host.decide("http://127.0.0.1:9/", [])
    assert by_host.decide("http://2130706433/", [])  # legacy spelling of an allowed IP
    assert by_host.decide("http://localhost/", ["127.0.0.1", "::1"])
    with pytest.raises(GuardError, match="private"):  # another host on a private address is still refused
        by_host.decide("http://internal.test/", ["10.0.0.5"])
    by_cidr = AddressGuard(allow_cidrs=["10.0.0.0/8", "127.0.0.1/32"])
    assert by_cidr.decide("http://wiki.corp/", ["10.2.3.4"])
    assert by_cidr.decide("http://127.0.0.1:5000/", [])
    with pytest.raises(GuardError, match="loopback"):
        by_cidr.decide("http://127.0.0.2/", [])
    with pytest.raises(GuardError, match="not a valid"):  # names are still checked syntactically
        by_cidr.decide("http://a_b%2e/", [])


def test_metadata_needs_an_explicit_cidr_not_a_host_allowance():
    g = AddressGuard(allow_hosts=["meta.test"])
    with pytest.raises(GuardError, match="cloud-metadata"):
        g.decide("http://meta.test/", ["169.254.169.254"])
    assert AddressGuard(allow_cidrs=["169.254.169.254/32"]).decide("http://169.254.169.254/", [])


def test_address_refusal_pure():
    assert address_refusal(ipaddress.ip_address("1.1.1.1")) is None
    assert "loopback" in address_refusal(ipaddress.ip_address("127.5.5.5"))
    assert "private" in address_refusal(ipaddress.ip_address("fd12:3456::1"))
    assert "embeds" in address_refusal(ipaddress.ip_address("2001:0:4136:e378:8000:63bf:f5ff:fffe"))  # Teredo→10.0.0.1


def test_parse_ip_literal_knows_legacy_forms_but_not_names():
    assert str(parse_ip_literal("0x7f000001")) == "127.0.0.1"
    assert str(parse_ip_literal("10.1")) == "10.0.0.1"
    assert parse_ip_literal("cafe.be") is None
    assert parse_ip_literal("example.com") is None


def test_bad_cidr_is_a_config_error():
    with pytest.raises(ConfigError, match="allow_cidrs"):
        AddressGuard(allow_cidrs=["10.0.0.0/33"])
