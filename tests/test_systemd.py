"""sd_notify over a real datagram socket, and the unit file's required settings."""

from __future__ import annotations

import configparser
import socket

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
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "info": ("_info",), "gauge": ("",)}
    for family in registry.collect():
        names |= {family.name + suffix for suffix in suffixes[family.type]}
    dashboard = json.loads((REPO / "dashboards" / "vigil.json").read_text())
    used = {m for p in dashboard["panels"] for t in p["targets"] for m in re.findall(r"\bvigil_[a-z_]+", t["expr"])}
    used |= set(re.findall(r"vigil_[a-z_]+", json.dumps(dashboard["templating"])))
    assert used and used <= names, used - names
