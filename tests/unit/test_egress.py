from __future__ import annotations

import ipaddress

import pytest

from app.core.egress import EgressPolicy, address_class
from app.errors import EgressDenied


@pytest.mark.parametrize(("ip", "cls"), [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("10.1.2.3", "private"),
    ("192.168.0.5", "private"), ("169.254.169.254", "link-local"), ("8.8.8.8", "public"),
    ("::ffff:127.0.0.1", "loopback"), ("0.0.0.0", "private"),
])
def test_address_classes(ip: str, cls: str) -> None:
    assert address_class(ipaddress.ip_address(ip)) == cls


def test_public_only_policy_blocks_loopback_and_metadata() -> None:
    policy = EgressPolicy.parse("public")
    for url in ("http://127.0.0.1:8000/v1", "http://localhost/v1", "http://169.254.169.254/"):
        with pytest.raises(EgressDenied) as err:
            policy.check_url(url, field="url")
        assert err.value.field == "url"


def test_cidr_allows_a_specific_range_and_schemes_are_checked() -> None:
    policy = EgressPolicy.parse("public,127.0.0.0/8")
    policy.check_url("http://127.0.0.1:9/v1")
    with pytest.raises(EgressDenied, match="http"):
        policy.check_url("file:///etc/passwd")
    with pytest.raises(ValueError, match="unknown token"):
        EgressPolicy.parse("public,intranet")
