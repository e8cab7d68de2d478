"""The Prometheus alerting rules shipped beside the dashboard: valid, unit-tested with promtool's own
test runner, and naming only metrics the monitor exports."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from prometheus_client import generate_latest

from streamer.metrics import build_metrics, zero_known_series
from streamer.sinks.spool import Spool
from tests.conftest import REPO

RULES = REPO / "dashboards" / "vigil-alerts.yml"
pytestmark = pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian 'prometheus')")


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["promtool", *args], cwd=RULES.parent, capture_output=True, text=True, timeout=60)


def test_the_rules_are_valid_and_pass_their_unit_tests():
    checked = promtool("check", "rules", RULES.name)
    assert checked.returncode == 0 and "SUCCESS: 7 rules found" in checked.stdout, (
        checked.stdout + checked.stderr
    )
    tested = promtool("test", "rules", "vigil-alerts.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_a_rule_that_fires_too_late_fails_its_unit_test(tmp_path):
    """The unit tests can fail: a drop rule at 25% misses the 20% camera the tests expect."""
    (tmp_path / RULES.name).write_text(RULES.read_text().replace("> 0.05", "> 0.25"))
    shutil.copy(RULES.parent / "vigil-alerts.test.yml", tmp_path)
    result = subprocess.run(
        ["promtool", "test", "rules", "vigil-alerts.test.yml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode != 0 and "VigilFramesDropped" in result.stdout + result.stderr


def test_every_metric_a_rule_reads_is_one_the_monitor_exports(tmp_path):
    metrics = build_metrics()
    zero_known_series(metrics, ["door"], ["fight"])
    metrics.sink_started("mqtt", Spool(tmp_path / "q", 10))
    exported = set(re.findall(r"^# TYPE (\w+) (\w+)", generate_latest(metrics.registry).decode(), re.M))
    names = {name for name, kind in exported} | {
        f"{name}_total" for name, kind in exported if kind == "counter"
    }
    used = set(re.findall(r"\b(vigil_\w+)", RULES.read_text()))
    assert used and used <= names, sorted(used - names)


@pytest.mark.parametrize("name", ["prometheus-site.yml", "prometheus-central.yml"])
def test_the_deployment_prometheus_configs_are_valid(name, tmp_path):
    checked = promtool("check", "config", name)
    assert checked.returncode == 0 and "is valid prometheus config file syntax" in checked.stdout, (
        checked.stdout + checked.stderr
    )
    # The check can fail: the same file with a scrape job missing its name is refused.
    (tmp_path / name).write_text((RULES.parent / name).read_text().replace("job_name:", "job_nme:"))
    shutil.copy(RULES, tmp_path)
    broken = subprocess.run(
        ["promtool", "check", "config", name], cwd=tmp_path, capture_output=True, text=True
    )
    assert broken.returncode != 0
