"""Which services may run twice side by side, in which order, with how many replicas."""

from __future__ import annotations

from dockyard.compose.startfirst import (
    ReplaceSpec,
    fixed_ports,
    healthcheck_disabled,
    in_order,
    replicas,
    specs,
    unsafe,
)


def test_fixed_host_ports_in_short_and_long_syntax() -> None:
    spec = {"ports": ["18080:8080", "8081", "127.0.0.1:18090-18091:9000", "127.0.0.1:9100:91/udp",
                      "[::1]:9200:92", 8082,
                      {"target": 80, "published": "1999"}, {"target": 81}]}  # fmt: skip
    assert fixed_ports(spec) == ["18080", "9100", "9200", "1999"]
    assert (
        fixed_ports({"ports": ["8080", "18080-18081:8080", {"target": 80, "published": ""}]}) == []
    )


def test_each_unsafe_case_names_the_service_and_the_fix() -> None:
    services = {
        "web": {"ports": [{"target": 80, "published": "18080"}]},
        "named": {"container_name": "shop-named"},
        "migrate": {},
        "seed": {},
        "app": {"depends_on": {"seed": {"condition": "service_completed_successfully"}},
                "ports": ["8080"]},
    }  # fmt: skip
    found = unsafe(services, ["web", "named", "migrate", "seed", "app"], {"migrate"})
    assert [(u.service, u.problem.split(" ")[0]) for u in found] == [
        ("web", "publishes"), ("named", "has"), ("migrate", "is"), ("seed", "is"),
    ]  # fmt: skip
    assert "18080" in str(found[0]) and "up.start_first" in found[0].fix
    assert "remove container_name" in str(found[1])
    assert "service_completed_successfully" in str(found[3])


def test_dependency_order_then_as_listed() -> None:
    services = {
        "proxy": {"depends_on": {"app": {}}},
        "app": {"depends_on": ["api"]},
        "api": {},
        "worker": {},
    }
    assert in_order(services, ["proxy", "worker", "app", "api", "gone"]) == [
        "api", "app", "proxy", "worker",
    ]  # fmt: skip


def test_replicas_from_scale_or_deploy() -> None:
    assert replicas({}) == 1
    assert replicas({"deploy": {"replicas": 2}}) == 2
    assert replicas({"scale": 3, "deploy": {"replicas": 2}}) == 3
    assert replicas({"deploy": {"replicas": "4"}}) == 4


def test_specs_only_for_active_services() -> None:
    services = {"app": {"image": "reg/app:v2", "deploy": {"replicas": 2}}, "admin": {"image": "x"}}
    assert specs(services, ["admin", "app"], ["app"]) == (ReplaceSpec("app", "reg/app:v2", 2),)


def test_a_disabled_healthcheck_is_refused_naming_the_http_check() -> None:
    services = {
        "off": {"healthcheck": {"disable": True}},
        "none": {"healthcheck": {"test": ["NONE"]}},
        "checked": {"healthcheck": {"disable": True}},
        "image": {},
    }
    found = unsafe(services, list(services), (), {"checked"})
    assert [u.service for u in found] == ["off", "none", "checked"]
    assert "healthcheck disabled" in str(found[0]) and "set up.http_check.off" in str(found[0])
    assert "drop `healthcheck: disable` (up.http_check.checked is its readiness" in str(found[2])
    assert not healthcheck_disabled({"healthcheck": {"test": ["CMD", "true"]}})
