"""The web console against a real monitor (`vigil run` as a process, the demo model on a synthetic
fight, a second camera that is a dead RTSP address with a password): logins, roles, CSRF, lockout,
evidence paths, reviews and their audit log, the export, TLS, and secrets kept out of every page.
The browser's side (a real Chromium) is tests/test_console_browser.py."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from evaluation import synth
from evaluation.groups import read_group_file
from streamer.config import ConfigError, parse_config
from streamer.console.catalog import load_alerts
from streamer.console.export import export_reviewed
from streamer.console.reviews import ReviewError, ReviewLog
from streamer.console.users import UserError, read_users, set_user, verify_password
from streamer.preflight import check_console
from testbed.rtsp import free_port
from tests.test_demo_model import DEMO
from tests.test_monitor import config_dict, read_log, run_vigil, wait_until

PASSWORDS = {
    "ann": "admin password 1",
    "rev": "reviewer password 1",
    "vic": "viewer password 1",
    "max": "locked out password",  # the brute-force test's own user
}
ROLES = {"ann": "admin", "rev": "reviewer", "vic": "viewer", "max": "viewer"}
CAMERA_SECRET = "s3cr#t-Pa55"


class Client:
    """A browser's cookies and forms, without the browser: urllib, no redirects followed."""

    def __init__(self, base: str, context: ssl.SSLContext | None = None):
        self.base = base
        self.jar = http.cookiejar.CookieJar()

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        handlers = [urllib.request.HTTPCookieProcessor(self.jar), NoRedirect()]
        if context is not None:
            handlers.append(urllib.request.HTTPSHandler(context=context))
        self.opener = urllib.request.build_opener(*handlers)

    def request(self, path: str, form: dict | None = None) -> tuple[int, str, dict]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(self.base + path, data, timeout=30) as response:
                return response.status, response.read().decode(errors="replace"), dict(response.headers)
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode(errors="replace"), dict(err.headers)

    def login(self, name: str, password: str) -> int:
        _, page, _ = self.request("/login")
        token = re.search(r'name="login_token" value="([^"]+)"', page).group(1)
        status, _, _ = self.request("/login", {"login_token": token, "name": name, "password": password})
        return status

    def csrf(self, path: str = "/alerts") -> str:
        _, page, _ = self.request(path)
        return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def make_users(path: Path) -> Path:
    for name, password in PASSWORDS.items():
        set_user(path, name, ROLES[name], password)
    return path


@pytest.fixture(scope="module")
def fight_clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "street.mp4"
    synth.make_demo(path, seed=3, width=640, height=360, fps=10.0, timeline=(("fight", 6.0),))
    return path


def console_config(folder: Path, clip: Path, port: int, **console) -> dict:
    cameras = [
        {"name": "street", "source": str(clip), "loop": True},
        {"name": "door", "source": f"rtsp://admin:{urllib.parse.quote(CAMERA_SECRET)}@127.0.0.1:9/live"},
    ]
    config = config_dict(DEMO, cameras, folder, alerts={"cooldown_s": 4.0, "post_roll_s": 0.5})
    config["alerts"].update(threshold=0.7, k=1, n=1)
    config["console"] = {
        "enabled": True,
        "port": port,
        "users_file": str(folder / "users.txt"),
        "export_dir": str(folder / "exports"),
        "live_fps": 5.0,
        "login_attempts": 3,
        "lockout_s": 60.0,
        **console,
    }
    return config


def start_console(folder: Path, clip: Path) -> tuple[subprocess.Popen, str]:
    """`vigil run` with its console and users, once the console answers: (process, base URL)."""
    make_users(folder / "users.txt")
    port = free_port()
    proc = run_vigil(console_config(folder, clip, port), folder)
    base = f"http://127.0.0.1:{port}"

    def up():
        try:
            urllib.request.urlopen(base + "/login", timeout=2).close()
            return True
        except OSError:
            return False

    wait_until(lambda: proc.poll() is not None or up(), timeout=60)
    assert proc.poll() is None, proc.communicate(timeout=5)[0]
    return proc, base


@pytest.fixture(scope="module")
def monitor(tmp_path_factory, fight_clip):
    """One monitor with its console for the module, stopped (SIGTERM) at the end; its output is
    checked for secrets by the last test."""
    folder = tmp_path_factory.mktemp("console")
    proc, base = start_console(folder, fight_clip)
    try:
        log = folder / "alerts" / "alerts.jsonl"
        # two alerts with clips: one to confirm, one to call a false alarm
        wait_until(lambda: log.exists() and len(read_log(folder / "alerts")[1]) >= 2, timeout=90)
        yield {"base": base, "folder": folder, "proc": proc}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)


def logged_in(monitor, name: str) -> Client:
    client = Client(monitor["base"])
    assert client.login(name, PASSWORDS[name]) == 302
    return client


# ------------------------------------------------------------------ no session, wrong role, CSRF
@pytest.mark.parametrize("path", ["/", "/alerts", "/audit", "/export"])
def test_pages_without_a_session_go_to_the_login(monitor, path):
    status, _, headers = Client(monitor["base"]).request(path)
    assert status == 302 and headers["Location"] == "/login"


def test_streams_files_and_forms_without_a_session_answer_401(monitor):
    client = Client(monitor["base"])
    alert = read_log(monitor["folder"] / "alerts")[0][0]
    for path in ("/stream/street", f"/alerts/{alert['id']}/files/{alert['snapshot']}"):
        assert client.request(path)[0] == 401, path
    status, _, _ = client.request(f"/alerts/{alert['id']}/review", {"decision": "confirmed", "csrf": "x"})
    assert status == 401
    assert client.request("/export", {"csrf": "x"})[0] == 401


def test_a_viewer_sees_alerts_but_may_not_review_nor_export(monitor):
    viewer = logged_in(monitor, "vic")
    alert = read_log(monitor["folder"] / "alerts")[0][0]
    status, page, _ = viewer.request(f"/alerts/{alert['id']}")
    assert status == 200 and alert["camera"] in page and 'id="confirm"' not in page
    token = viewer.csrf()
    assert viewer.request(f"/alerts/{alert['id']}/review", {"decision": "confirmed", "csrf": token})[0] == 403
    assert viewer.request("/export", {"csrf": token})[0] == 403
    assert viewer.request("/audit")[0] == 403
    assert (
        not (monitor["folder"] / "alerts" / "reviews.jsonl").exists()
        or alert["id"] not in (monitor["folder"] / "alerts" / "reviews.jsonl").read_text()
    )


def test_a_review_without_its_csrf_token_is_refused(monitor):
    reviewer = logged_in(monitor, "rev")
    alert = read_log(monitor["folder"] / "alerts")[0][-1]
    for form in ({"decision": "confirmed"}, {"decision": "confirmed", "csrf": "forged"}):
        assert reviewer.request(f"/alerts/{alert['id']}/review", form)[0] == 403
    other = logged_in(monitor, "ann")  # another session's token is no token
    form = {"decision": "confirmed", "csrf": other.csrf()}
    assert reviewer.request(f"/alerts/{alert['id']}/review", form)[0] == 403
    reviews = monitor["folder"] / "alerts" / "reviews.jsonl"
    assert not reviews.exists() or alert["id"] not in reviews.read_text()


@pytest.mark.parametrize(
    "name",
    ["alerts.jsonl", "..%2Fusers.txt", "%2E%2E%2Fusers.txt", "reviews.jsonl", "playable", "x.jpg"],
)
def test_evidence_is_served_only_when_its_alert_names_it(monitor, name):
    viewer = logged_in(monitor, "vic")
    alert = read_log(monitor["folder"] / "alerts")[0][0]
    assert viewer.request(f"/alerts/{alert['id']}/files/{alert['snapshot']}")[0] == 200
    assert viewer.request(f"/alerts/{alert['id']}/files/{name}")[0] == 404


def test_paths_outside_the_console_are_not_reachable(monitor):
    viewer = logged_in(monitor, "vic")
    for path in (
        "/static/../app.py",
        "/static/%2e%2e/app.py",
        "/static/..%2fusers.py",
        "/alerts/..%2F..%2Fetc",
    ):
        status, body, _ = viewer.request(path)
        assert status in (403, 404), (path, status)
        assert "import" not in body


def test_brute_force_locks_the_name_out_even_for_the_right_password(monitor):
    client = Client(monitor["base"])
    for _ in range(3):
        assert client.login("max", "wrong password!") == 401
    assert client.login("max", PASSWORDS["max"]) == 429
    assert client.request("/alerts")[0] == 302  # no session was opened
    assert Client(monitor["base"]).login("max", PASSWORDS["max"]) == 429  # the name, from anywhere
    assert Client(monitor["base"]).login("vic", PASSWORDS["vic"]) == 302  # other users still get in


def test_every_answer_carries_the_security_headers(monitor):
    viewer = logged_in(monitor, "vic")
    for path in ("/alerts", "/login", "/nope"):
        _, _, headers = viewer.request(path)
        assert "script-src 'none'" in headers["Content-Security-Policy"], path
        assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"
    cookie = next(c for c in viewer.jar if c.name == "vigil_session")
    assert cookie.has_nonstandard_attr("HttpOnly") and cookie.get_nonstandard_attr("SameSite") == "Strict"


# ------------------------------------------------------------------ reviews, the audit log, export
def test_decisions_are_appended_with_who_and_the_state_before(monitor):
    alerts = read_log(monitor["folder"] / "alerts")[0]
    ident = alerts[0]["id"]
    reviewer, admin = logged_in(monitor, "rev"), logged_in(monitor, "ann")
    form = {"decision": "confirmed", "note": "two people <b>fighting</b>", "csrf": reviewer.csrf()}
    assert reviewer.request(f"/alerts/{ident}/review", form)[0] == 302
    form = {"decision": "false_alarm", "note": "they were dancing", "csrf": admin.csrf()}
    assert admin.request(f"/alerts/{ident}/review", form)[0] == 302
    lines = [json.loads(x) for x in (monitor["folder"] / "alerts" / "reviews.jsonl").read_text().splitlines()]
    mine = [x for x in lines if x["alert"] == ident]
    assert [(x["user"], x["decision"], x["previous"]) for x in mine[-2:]] == [
        ("rev", "confirmed", "unreviewed"),
        ("ann", "false_alarm", "confirmed"),
    ]
    _, page, _ = reviewer.request(f"/alerts/{ident}")
    assert "false alarm" in page and "&lt;b&gt;fighting&lt;/b&gt;" in page and "<b>fighting" not in page
    _, audit, _ = reviewer.request("/audit")
    assert audit.index("they were dancing") < audit.index("fighting")  # newest first
    _, queue, _ = reviewer.request("/alerts?state=false_alarm")
    assert ident in queue and f"{len(alerts)} alert" not in queue or len(alerts) == 1


def test_the_queue_filters_by_camera_class_state_and_time(monitor):
    viewer = logged_in(monitor, "vic")
    alerts = read_log(monitor["folder"] / "alerts")[0]
    _, page, _ = viewer.request("/alerts")
    listed = re.findall(r'class="alert-link" href="/alerts/([^"]+)"', page)
    assert listed == sorted({a["id"] for a in alerts}, key=lambda i: i, reverse=True)[: len(listed)]
    assert re.findall(r'href="/alerts/([^"]+)"', viewer.request("/alerts?camera=door")[1]) == []
    assert re.findall(r'class="alert-link"', viewer.request("/alerts?class=shooting")[1]) == []
    newest = alerts[-1]["time_utc"]
    _, page, _ = viewer.request("/alerts?" + urllib.parse.urlencode({"since": newest}))
    assert re.findall(r'class="alert-link" href="/alerts/([^"]+)"', page) == [alerts[-1]["id"]]


def test_an_alert_page_shows_the_evidence_it_names(monitor):
    viewer = logged_in(monitor, "vic")
    alerts, clips = read_log(monitor["folder"] / "alerts")
    alert = next(a for a in alerts if a["id"] in clips)
    _, page, _ = viewer.request(f"/alerts/{alert['id']}")
    for needed in (
        alert["snapshot"],
        alert["window_strip"],
        'id="clip"',
        "FIGHT",
        "very sure" if alert["score"] >= 0.9 else "sure",
    ):
        assert needed in page, needed
    status, video, headers = viewer.request(f"/alerts/{alert['id']}/play")
    assert status == 200 and headers["Content-Type"] == "video/mp4"


def test_the_export_puts_raw_clips_in_class_folders(monitor):
    folder = monitor["folder"]
    alerts, clips = read_log(folder / "alerts")
    with_clip = [a for a in alerts if a["id"] in clips]
    assert len(with_clip) >= 2, "needs two alerts with clips"
    reviewer = logged_in(monitor, "rev")
    for alert, decision in zip(with_clip[-2:], ("confirmed", "false_alarm")):
        form = {"decision": decision, "csrf": reviewer.csrf()}
        assert reviewer.request(f"/alerts/{alert['id']}/review", form)[0] == 302
    admin = logged_in(monitor, "ann")
    status, page, _ = admin.request("/export", {"csrf": admin.csrf("/export")})
    assert status == 200 and "Written to" in page
    exported = sorted((folder / "exports").iterdir())[-1]
    states = {e.id: e.state for e in load_alerts(folder / "alerts", ReviewLog(folder / "alerts").read())}
    for alert in with_clip[-2:]:
        label = "fight" if states[alert["id"]] == "confirmed" else "normal"
        copy = exported / label / f"{alert['id']}.mp4"
        assert copy.read_bytes() == (folder / "alerts" / clips[alert["id"]]["raw_clip"]).read_bytes()
    groups = read_group_file(exported / "groups.txt")
    assert set(groups.values()) == {"camera street"}


# ------------------------------------------------------------------ the stream, and secrets
def test_the_live_stream_sends_new_pictures_at_the_bounded_rate(monitor):
    viewer = logged_in(monitor, "vic")
    with viewer.opener.open(monitor["base"] + "/stream/street", timeout=30) as response:
        assert response.headers["Content-Type"].startswith("multipart/x-mixed-replace")
        started, data = time.monotonic(), b""
        while time.monotonic() - started < 3.0:
            data += response.read1(65536)
    frames = [part for part in data.split(b"--frame\r\n") if b"\xff\xd8" in part]
    assert 5 <= len(frames) <= 3.0 * 5 + 3, len(frames)
    assert len({f[f.index(b"\xff\xd8") :][:4000] for f in frames[:-1]}) > 1, "the picture never changed"


# ------------------------------------------------------------------ without a monitor
def test_users_file_hashes_and_refuses_wrong_lines(tmp_path):
    path = make_users(tmp_path / "users.txt")
    assert path.stat().st_mode & 0o777 == 0o600
    users = read_users(path)
    assert {u.role for u in users.values()} == {"admin", "reviewer", "viewer"}
    assert verify_password(PASSWORDS["ann"], users["ann"].password_hash)
    assert not verify_password(PASSWORDS["rev"], users["ann"].password_hash)
    assert PASSWORDS["ann"] not in path.read_text()
    path.write_text("ann:boss:scrypt$1$1$1$AA==$AA==\n")
    with pytest.raises(UserError, match=r"users.txt:1: expected a role"):
        read_users(path)
    with pytest.raises(UserError, match="at least 10"):
        set_user(tmp_path / "u2.txt", "x", "viewer", "short")


def test_vigil_users_add_reads_the_password_from_stdin(tmp_path):
    path = tmp_path / "users.txt"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "vigil",
            "users",
            "add",
            "eve",
            "--role",
            "reviewer",
            "--file",
            str(path),
            "--password-stdin",
        ],
        input="a long enough password\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "a long enough password" not in done.stdout + done.stderr + path.read_text()
    assert verify_password("a long enough password", read_users(path)["eve"].password_hash)


@pytest.mark.parametrize(
    "console, users, error",
    [
        ({}, False, "console.users_file: no users file"),
        ({"host": "0.0.0.0"}, True, "console.host: '0.0.0.0' reaches the network"),
        (
            {"tls_cert": "/nope/cert.pem", "tls_key": "/nope/key.pem"},
            True,
            "console.tls_cert: expected a readable",
        ),
        ({"tls_cert": "/nope/cert.pem"}, True, "tls_cert and tls_key together"),
    ],
)
def test_a_console_that_cannot_be_used_safely_is_refused_at_start(tmp_path, console, users, error):
    if users:
        make_users(tmp_path / "users.txt")
    data = {"console": {"enabled": True, "users_file": str(tmp_path / "users.txt"), **console}}
    with pytest.raises(ConfigError, match=re.escape(error)):
        check_console(parse_config(data, base_dir=tmp_path))


def test_the_review_log_refuses_unknown_decisions_and_survives_a_torn_line(tmp_path):
    log = ReviewLog(tmp_path)
    with pytest.raises(ReviewError, match="decision: expected one of"):
        log.decide("a1", "rev", "maybe", "", time.time())
    log.decide("a1", "rev", "confirmed", "", time.time())
    with open(log.path, "ab") as handle:
        handle.write(b'{"type":"review","alert":"a1","dec')  # a kill -9 mid-line
    line = log.decide("a1", "ann", "false_alarm", "no", time.time())
    assert line["previous"] == "confirmed"
    assert [r["decision"] for r in log.read()] == ["confirmed", "false_alarm"]


def test_export_skips_alerts_without_a_raw_clip(tmp_path):
    alerts = tmp_path / "alerts"
    alerts.mkdir()
    lines = [
        {"type": "alert", "id": "a1", "camera": "gate", "class": "fight", "time_utc": "2026-01-01T00:00:00"},
        {"type": "clip", "id": "a1", "clip": "a1.mp4"},  # an older log: no raw clip
    ]
    (alerts / "alerts.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    ReviewLog(alerts).decide("a1", "rev", "confirmed", "", time.time())
    entries = load_alerts(alerts, ReviewLog(alerts).read())
    result = export_reviewed(entries, alerts, tmp_path / "out", "normal")
    assert result.counts == {} and "no clip as captured" in result.skipped["a1"]


def test_tls_serves_https_only_with_the_configured_certificate(tmp_path, fight_clip):
    if subprocess.run(["which", "openssl"], capture_output=True).returncode != 0:
        pytest.skip("openssl (Debian openssl) makes the test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    make_users(tmp_path / "users.txt")
    port = free_port()
    config = console_config(tmp_path, fight_clip, port, tls_cert=str(cert), tls_key=str(key))
    config["cameras"] = config["cameras"][:1]
    proc = run_vigil(config, tmp_path)
    try:
        context = ssl.create_default_context(cafile=str(cert))
        client = Client(f"https://127.0.0.1:{port}", context)

        def up():
            try:
                return client.request("/login")[0] == 200
            except OSError:
                return False

        wait_until(lambda: proc.poll() is not None or up(), timeout=60)
        assert client.login("ann", PASSWORDS["ann"]) == 302
        cookie = next(c for c in client.jar if c.name == "vigil_session")
        assert cookie.secure
        with pytest.raises(OSError):  # plain HTTP on the TLS port is no way in
            urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5).read()
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output[-2000:]
    assert f"console on https://127.0.0.1:{port}/" in output


def test_the_summary_gives_no_duration_to_an_event_cut_by_a_crash():
    from streamer.console.catalog import AlertEntry
    from streamer.console.summary import alert_summary

    record = {
        "id": "a1",
        "camera": "gate",
        "class": "fight",
        "score": 0.93,
        "time_utc": "2026-12-02T10:00:01.000+00:00",
        "window_start_utc": "2026-12-02T10:00:00.000+00:00",
        "window_end_utc": "2026-12-02T10:00:01.000+00:00",
        "window_frames": [10, 40],
        "frame_size": [360, 640],
        "boxes": [{"box": [0, 0, 100, 100], "peak": 1.0}],
    }
    calm = {"type": "end", "id": "a1", "time_utc": "2026-12-02T10:00:13.000+00:00", "reason": "calm"}
    crash = {**calm, "time_utc": "2026-12-02T13:00:00.000+00:00", "reason": "monitor restarted"}
    said = " ".join(alert_summary(AlertEntry(record, end=calm)))
    assert "very sure" in said and "the top left of the picture" in said and "ended after 12 s: calm" in said
    said = " ".join(alert_summary(AlertEntry(record, end=crash)))
    assert "stopped by force" in said and "ended after" not in said


def test_logging_out_ends_the_session(monitor):
    viewer = logged_in(monitor, "vic")
    assert viewer.request("/alerts")[0] == 200
    assert viewer.request("/logout", {"csrf": viewer.csrf()})[0] == 302
    assert viewer.request("/alerts")[0] == 302


def test_clips_become_playable_h264_and_broken_ones_fail_with_an_error(monitor, tmp_path):
    import av

    from streamer.console.playable import playable_clip

    alerts_dir = monitor["folder"] / "alerts"
    record = next(iter(read_log(alerts_dir)[1].values()))
    clip = alerts_dir / record["clip"]
    copy = tmp_path / "whole.mp4"
    copy.write_bytes(clip.read_bytes())
    with av.open(str(playable_clip(copy))) as played:
        stream = played.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.frames == record["frames"]
    for name, data in (("cut.mp4", clip.read_bytes()[:3000]), ("noise.mp4", os.urandom(50_000))):
        (tmp_path / name).write_bytes(data)
        with pytest.raises((OSError, av.FFmpegError)):
            playable_clip(tmp_path / name)
        assert not list((tmp_path / "playable").glob(name.replace(".mp4", "*")))  # no half file left


# The last test on the module's monitor: it stops the monitor to read all that it printed.
def test_a_credential_reaches_no_page_nor_log(monitor):
    admin = logged_in(monitor, "ann")
    seen = []
    for path in ("/", "/live/door", "/alerts", "/audit", "/export", "/alerts?camera=door"):
        seen.append(admin.request(path)[1])
    assert "door" in seen[1]
    secret = urllib.parse.quote(CAMERA_SECRET)
    assert not any(CAMERA_SECRET in page or secret in page or "admin:" in page for page in seen)
    # The monitor's own output, once it stops: no password and no camera credentials.
    proc = monitor["proc"]
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output[-3000:]
    assert CAMERA_SECRET not in output and secret not in output
    assert not any(p in output for p in PASSWORDS.values())
    assert "failed login for 'max'" in output and "console: ann (admin) logged in" in output
