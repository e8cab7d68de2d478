"""sd_notify over a real datagram socket, and the unit file's required settings."""

from __future__ import annotations

import configparser
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from streamer import systemd
from tests.conftest import REPO


def test_notify_sends_one_datagram(tmp_path, monkeypatch):
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        server.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        assert systemd.notify("READY=1")
        assert server.recv(64) == b"READY=1"


def test_notify_abstract_socket(monkeypatch):
    name = f"vigil-test-{id(monkeypatch)}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind("\0" + name)
        server.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert systemd.notify("WATCHDOG=1")
        assert server.recv(64) == b"WATCHDOG=1"


def test_notify_without_systemd_does_nothing(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert systemd.notify("READY=1") is False


def test_unit_file_is_a_hardened_notify_service():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read(REPO / "systemd" / "vigil.service")
    service = unit["Service"]
    assert service["Type"] == "notify" and int(service["WatchdogSec"]) > 0
    assert service["Restart"] == "on-failure" and service["User"] == "vigil"
    for key in ("NoNewPrivileges", "PrivateTmp"):
        assert service[key] == "true"
    assert service["ProtectSystem"] == "strict" and "/var/lib/vigil" in service["ReadWritePaths"]
    assert service["ExecStart"].split()[1:3] == ["run", "--config"]


def test_dashboard_queries_only_metrics_that_exist():
    import json
    import re

    from streamer.metrics import build_metrics

    registry = build_metrics().registry
    names = set()
    suffixes = {
        "counter": ("_total",),
        "histogram": ("_bucket", "_count", "_sum"),
        "info": ("_info",),
        "gauge": ("",),
    }
    for family in registry.collect():
        names |= {family.name + suffix for suffix in suffixes[family.type]}
    dashboard = json.loads((REPO / "dashboards" / "vigil.json").read_text())
    used = {
        m
        for p in dashboard["panels"]
        for t in p["targets"]
        for m in re.findall(r"\bvigil_[a-z_]+", t["expr"])
    }
    used |= set(re.findall(r"vigil_[a-z_]+", json.dumps(dashboard["templating"])))
    assert used and used <= names, used - names


def unit_with_real_exec(tmp_path) -> Path:
    """The shipped unit, its ExecStart pointed at this install's `vigil` (verify checks it exists)."""
    import sys

    vigil = Path(sys.executable).parent / "vigil"
    text = (REPO / "systemd" / "vigil.service").read_text()
    assert "ExecStart=/opt/vigil/.venv/bin/vigil " in text
    path = tmp_path / "vigil.service"
    path.write_text(text.replace("ExecStart=/opt/vigil/.venv/bin/vigil ", f"ExecStart={vigil} "))
    return path


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze (Debian 'systemd') not installed"
)
def test_the_unit_verifies_and_is_rated_ok_by_systemd(tmp_path):
    unit = unit_with_real_exec(tmp_path)
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert verify.returncode == 0 and verify.stdout + verify.stderr == "", verify.stdout + verify.stderr
    security = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    exposure = float(
        re.search(r"Overall exposure level for vigil\.service: ([\d.]+)", security.stdout).group(1)
    )
    assert exposure <= 2.5, security.stdout  # was 7.2 MEDIUM; 'OK' is below 4
    unit_text = unit.read_text()
    assert "UMask=0027" in unit_text and "EnvironmentFile=-/etc/vigil/credentials" in unit_text


def test_the_service_config_passes_where_the_readme_installs_it(tmp_path):
    """systemd/config.toml with /opt/vigil -> this checkout and /var/lib/vigil -> a fresh folder:
    check-config accepts it, and it writes nothing outside the state folder."""
    import os
    import sys

    from streamer.config import load_config

    state = tmp_path / "var-lib-vigil"
    state.mkdir()
    text = (REPO / "systemd" / "config.toml").read_text()
    path = tmp_path / "config.toml"
    path.write_text(text.replace("/opt/vigil", str(REPO)).replace("/var/lib/vigil", str(state)))
    env = {**os.environ, "VIGIL_DOOR_PASSWORD": "p@ss#1"}
    checked = subprocess.run(
        [sys.executable, "-m", "vigil", "check-config", str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert checked.returncode == 0, checked.stderr
    os.environ["VIGIL_DOOR_PASSWORD"] = "p@ss#1"
    try:
        config = load_config(path)
    finally:
        del os.environ["VIGIL_DOOR_PASSWORD"]
    assert config.overlay.display == "headless" and config.overlay.output_video == ""
    assert (
        config.resolve(config.alerts.directory).is_relative_to(state) and config.metrics.host == "127.0.0.1"
    )
    assert "p%40ss%231" in config.cameras[0].source  # the password, encoded for the URL
