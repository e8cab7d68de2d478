"""config.toml parsing: the shipped file is valid; each mistake gives one line with key,
expectation, value."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import pytest

from streamer.config import Config, ConfigError, load_config, parse_config
from tests.conftest import REPO

CAM = {"name": "door", "source": "rtsp://10.0.0.5/stream"}

BAD_CONFIGS = [
    ({"modle": {}}, r"^modle: unknown key \(expected one of \["),
    ({"model": {"bundel": "x"}}, r"^model\.bundel: unknown key"),
    ({"model": {"threads": "2"}}, r"^model\.threads: expected an integer, got string '2'"),
    ({"model": {"threads": -1}}, r"^model\.threads: expected 0\.\.256, got -1"),
    (
        {"model": {"providers": ["cuda", "rocm"]}},
        r"^model\.providers\[1\]: expected one of \['tensorrt', 'cuda', 'cpu'\], got 'rocm'",
    ),
    ({"model": {"providers": []}}, r"^model\.providers: expected at least one provider"),
    ({"inference": {"stride": 0}}, r"^inference\.stride: expected 1\.\.1024, got 0"),
    ({"alerts": {"threshold": 3}}, r"^alerts\.threshold: expected 0\.0\.\.1\.0, got 3\.0"),
    ({"alerts": {"threshold": True}}, r"^alerts\.threshold: expected a number, got boolean True"),
    (
        {"alerts": {"class_thresholds": {"fight": 1.5}}},
        r"^alerts\.class_thresholds\.fight: expected 0\.0\.\.1\.0, got 1\.5",
    ),
    ({"alerts": {"k": 4, "n": 3}}, r"^alerts\.k: expected <= alerts\.n \(3\), got 4"),
    ({"alerts": "loud"}, r"^alerts: expected a table, got string 'loud'"),
    (
        {"overlay": {"display": "tv"}},
        r"^overlay\.display: expected one of \['auto', 'window', 'headless'\], got 'tv'",
    ),
    ({"overlay": {"contour_levels": [0.5, 0.3]}}, r"^overlay\.contour_levels: expected strictly increasing"),
    ({"overlay": {"heatmap": "yes"}}, r"^overlay\.heatmap: expected a boolean, got string 'yes'"),
    ({"metrics": {"port": 70000}}, r"^metrics\.port: expected 1\.\.65535, got 70000"),
    (
        {"capture": {"reconnect_min_s": 10, "reconnect_max_s": 1}},
        r"^capture\.reconnect_min_s: expected <= capture\.reconnect_max_s",
    ),
    ({"capture": {"read_timeout_s": float("nan")}}, r"^capture\.read_timeout_s: expected a finite number"),
    ({"cameras": [{"source": "0"}]}, r"^cameras\[0\]\.name: missing \(required\)"),
    ({"cameras": [{**CAM, "name": "front door"}]}, r"^cameras\[0\]\.name: expected letters, digits"),
    ({"cameras": [CAM, CAM]}, r"^cameras\[1\]\.name: expected a unique camera name, got 'door' twice"),
    ({"cameras": [{**CAM, "fps": 10}]}, r"^cameras\[0\]\.fps: unknown key"),
    ({"cameras": {"name": "x"}}, r"^cameras: expected an array, got table"),
]


@pytest.mark.parametrize(
    "data,message", BAD_CONFIGS, ids=[m.split(":")[0].strip("^\\") for _, m in BAD_CONFIGS]
)
def test_bad_config_names_key_expectation_and_value(data, message):
    with pytest.raises(ConfigError, match=message) as info:
        parse_config(data)
    assert "\n" not in str(info.value)


def test_credentials_never_echoed_in_errors():
    bad = {"cameras": [{"name": "door", "source": ["rtsp://admin:hunter2@cam/1"]}]}
    with pytest.raises(ConfigError) as info:
        parse_config(bad)
    assert "hunter2" not in str(info.value) and "admin" not in str(info.value)
    assert "rtsp://***@cam/1" in str(info.value)


def test_shipped_config_is_valid_and_complete():
    config = load_config(REPO / "config.toml")
    assert config.cameras and config.cameras[0].name == "demo"
    # Every setting is written out in the shipped file, not left to a default nobody can see.
    data = tomllib.loads((REPO / "config.toml").read_text())
    from dataclasses import fields

    for section in fields(Config):
        if section.name in ("cameras", "base_dir"):
            continue
        written = set(data[section.name])
        expected = {f.name for f in fields(getattr(config, section.name))}
        assert written == expected, f"{section.name}: not written out: {expected - written}"


def test_paths_resolve_from_the_config_folder(tmp_path):
    (tmp_path / "vigil.toml").write_text('[model]\nbundle = "bundles/demo"\n')
    config = load_config(tmp_path / "vigil.toml")
    assert config.resolve(config.model.bundle) == tmp_path / "bundles" / "demo"


@pytest.mark.parametrize(
    "text,message",
    [
        ("[model\n", r"bad\.toml: not valid TOML"),
        ("[alerts]\nk = 9\n", r"bad\.toml: alerts\.k: expected <= alerts\.n \(3\), got 9"),
    ],
)
def test_load_config_names_the_file(tmp_path, text, message):
    (tmp_path / "bad.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path / "bad.toml")


def run_vigil(*args, cwd=REPO):
    return subprocess.run(
        [sys.executable, "-m", "vigil", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_check_config_command_exit_codes(tmp_path):
    # The shipped config, where its demo video exists (`make run` makes it; only existence is checked).
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "demo.mp4").write_bytes(b"")
    shipped = (
        (REPO / "config.toml")
        .read_text()
        .replace('bundle = "models/demo"', f'bundle = "{REPO / "models" / "demo"}"')
    )
    (tmp_path / "config.toml").write_text(shipped)
    ok = run_vigil("check-config", str(tmp_path / "config.toml"))
    assert ok.returncode == 0, ok.stderr
    (tmp_path / "build" / "demo.mp4").unlink()
    before_make_run = run_vigil("check-config", str(tmp_path / "config.toml"))
    assert (
        before_make_run.returncode == 1
        and "cameras[0].source: expected an existing video file" in before_make_run.stderr
    )
    (tmp_path / "bad.toml").write_text("[metrics]\nport = 0\n")
    bad = run_vigil("check-config", str(tmp_path / "bad.toml"))
    assert bad.returncode == 1
    assert bad.stderr.strip().endswith("metrics.port: expected 1..65535, got 0")
    assert len(bad.stderr.strip().splitlines()) == 1
    missing = run_vigil("check-config", str(tmp_path / "none.toml"))
    assert missing.returncode == 1 and "no such config file" in missing.stderr
