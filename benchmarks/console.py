"""What browsers watching the web console cost the monitor: the real `vigil run` (headless, four
cameras on generated scenes paced in real time, the console on), in phases without viewers and with
two viewers each reading every camera's MJPEG stream (one of them slowly), interleaved in one run.

Per phase: the monitor's CPU (its process's user + system time), frames dropped for analysis backlog
(from its Prometheus endpoint), and the pictures each viewer received.

    python -m benchmarks.console --out benchmarks/results/console-cpu.json   # about 3 min
    python -m benchmarks.console --quick                                      # 2 phases of 6 s
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

from benchmarks.machine import emit, machine_info
from evaluation import synth
from streamer.console.users import set_user
from testbed.rtsp import free_port

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "models" / "demo"
PASSWORD = "benchmark password"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def analysis_drops(port: int) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("vigil_frames_dropped_total") and 'reason="analysis_backlog"' in line
    )


def session(base: str) -> urllib.request.OpenerDirector:
    import http.cookiejar

    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    page = opener.open(base + "/login", timeout=10).read().decode()
    token = re.search(r'name="login_token" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"login_token": token, "name": "bench", "password": PASSWORD}).encode()
    opener.open(base + "/login", form, timeout=30).read()
    return opener


class Viewer(threading.Thread):
    """One browser tab on one camera's stream; `pause_s` between reads makes a slow reader."""

    def __init__(self, opener, url: str, stop: threading.Event, pause_s: float = 0.0):
        super().__init__(daemon=True)
        self.opener, self.url, self.stop_event, self.pause_s = opener, url, stop, pause_s
        self.pictures = 0

    def run(self) -> None:
        with self.opener.open(self.url, timeout=30) as response:
            while not self.stop_event.is_set():
                chunk = response.read1(16384)
                if not chunk:
                    return
                self.pictures += chunk.count(b"--frame\r\n")
                if self.pause_s:
                    time.sleep(self.pause_s)


def run(seconds: float, rounds: int, cameras: int, workdir: Path) -> dict:
    scenes = []
    for i in range(cameras):
        path = workdir / f"scene{i}.mp4"
        synth.make_demo(
            path, seed=i, width=1280, height=720, fps=25.0, timeline=(("fight", 4.0), ("normal", 4.0))
        )
        scenes.append(path)
    set_user(workdir / "users.txt", "bench", "viewer", PASSWORD)
    port, metrics_port = free_port(), free_port()
    cams = "".join(
        f'[[cameras]]\nname = "cam{i}"\nsource = "{p}"\nloop = true\n' for i, p in enumerate(scenes)
    )
    (workdir / "config.toml").write_text(
        f'[model]\nbundle = "{DEMO}"\nproviders = ["cpu"]\n'
        f'[alerts]\ndirectory = "{workdir / "alerts"}"\n'
        '[overlay]\ndisplay = "headless"\n'
        f"[metrics]\nport = {metrics_port}\n"
        f'[console]\nenabled = true\nport = {port}\nusers_file = "users.txt"\n' + cams
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "vigil", "run", "--config", str(workdir / "config.toml")],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    phases = []
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                analysis_drops(metrics_port)
                urllib.request.urlopen(base + "/login", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the monitor did not start") from None
                time.sleep(0.5)
        time.sleep(8.0)  # warm-up: every camera up, the first windows decided
        for _ in range(rounds):
            for watched in (False, True):
                stop = threading.Event()
                viewers = []
                if watched:
                    for pause in (0.0, 0.5):  # two browsers; the second reads slowly
                        opener = session(base)
                        viewers += [
                            Viewer(opener, f"{base}/stream/cam{i}", stop, pause) for i in range(cameras)
                        ]
                    for v in viewers:
                        v.start()
                    time.sleep(1.0)
                cpu0, drops0, t0 = cpu_seconds(proc.pid), analysis_drops(metrics_port), time.monotonic()
                time.sleep(seconds)
                cpu1, drops1, t1 = cpu_seconds(proc.pid), analysis_drops(metrics_port), time.monotonic()
                stop.set()
                for v in viewers:
                    v.join(timeout=5)
                phases.append(
                    {
                        "viewers": 2 if watched else 0,
                        "seconds": round(t1 - t0, 2),
                        "cpu_cores": round((cpu1 - cpu0) / (t1 - t0), 3),
                        "analysis_drops": drops1 - drops0,
                        "pictures_per_s_fast_viewer": round(
                            sum(v.pictures for v in viewers[:cameras]) / (t1 - t0 + 1.0), 2
                        )
                        if watched
                        else None,
                        "pictures_per_s_slow_viewer": round(
                            sum(v.pictures for v in viewers[cameras:]) / (t1 - t0 + 1.0), 2
                        )
                        if watched
                        else None,
                    }
                )
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    idle = [p["cpu_cores"] for p in phases if not p["viewers"]]
    watched = [p["cpu_cores"] for p in phases if p["viewers"]]
    return {
        "cameras": cameras,
        "phases": phases,
        "cpu_cores_idle_mean": round(sum(idle) / len(idle), 3),
        "cpu_cores_watched_mean": round(sum(watched) / len(watched), 3),
        "cpu_increase": round(sum(watched) / len(watched) / (sum(idle) / len(idle)) - 1, 3),
        "analysis_drops_watched": sum(p["analysis_drops"] for p in phases if p["viewers"]),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="each phase")
    parser.add_argument("--rounds", type=int, default=2, help="idle/watched pairs, interleaved")
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="one round of 6 s phases (the test suite)")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)
    seconds, rounds = (6.0, 1) if args.quick else (args.seconds, args.rounds)
    with tempfile.TemporaryDirectory() as folder:
        result = run(seconds, rounds, args.cameras, Path(folder))
    emit({"machine": machine_info(), "console": result}, args.out)


if __name__ == "__main__":
    main()
