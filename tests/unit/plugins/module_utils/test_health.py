"""Health classification and threshold math."""
import pytest

from ansible_collections.vmss.rollout.plugins.module_utils._vmss import health


@pytest.mark.parametrize("view,expected", [
    ({"vmHealth": {"status": {"code": "HealthState/healthy"}}}, "healthy"),
    ({"vmHealth": {"status": {"code": "HealthState/Unhealthy"}}}, "unhealthy"),
    ({"vmHealth": {"status": {"code": "HealthState/initializing"}}}, "initializing"),
    ({"vmHealth": {"status": {"code": "HealthState/unknown"}}}, "unknown"),
    ({"vmHealth": {"status": {"code": "HealthState/strange"}}}, "unknown"),
    ({}, None),
    (None, None),
])
def test_health_from_instance_view(view, expected):
    assert health.health_from_instance_view(view) == expected


def s(health_state="healthy", prov="Succeeded", power="running"):
    return {"instance_id": "0", "health_state": health_state, "provisioning_state": prov, "power_state": power}


def test_settled_means_not_initializing_and_not_updating():
    assert health.is_settled(s())
    assert health.is_settled(s("unhealthy"))
    assert health.is_settled(s(None))
    assert not health.is_settled(s("initializing"))
    assert not health.is_settled(s(prov="Updating"))


def test_threshold_is_exact_at_the_boundary():
    # 1 of 5 = 20 %: not above 20 %
    assert not health.exceeds(1, 5, 20)
    assert health.exceeds(2, 5, 20)
    assert health.exceeds(1, 5, 0)
    assert not health.exceeds(0, 0, 0)


def test_rollout_counts_unknown_and_failed_but_not_stopped_or_unreported():
    summaries = [dict(s(), instance_id="0"), dict(s("unhealthy"), instance_id="1"),
                 dict(s("unknown"), instance_id="2"), dict(s(prov="Failed"), instance_id="3"),
                 dict(s(None, power="deallocated"), instance_id="4"), dict(s("initializing"), instance_id="5"),
                 dict(s(None), instance_id="6")]
    assert health.rollout_unhealthy_ids(summaries) == ["1", "2", "3"]
