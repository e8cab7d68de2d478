"""The console's web application (aiohttp): pages, the live streams, evidence files, reviews and the
export, each behind a role. Every state change needs the session's CSRF token; every evidence file
is served only when an alert's own log line names it."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import jinja2
from aiohttp import web

from streamer.console.auth import LoginThrottle, Sessions, UserStore
from streamer.console.catalog import REVIEW_STATES, AlertFilter, load_alerts
from streamer.console.chart import trace_svg
from streamer.console.export import export_reviewed
from streamer.console.live import LiveFeed
from streamer.console.playable import playable_clip
from streamer.console.reviews import ReviewError, ReviewLog
from streamer.console.summary import alert_summary
from streamer.console.users import UserError

logger = logging.getLogger(__name__)
COOKIE = "vigil_session"
LOGIN_COOKIE = "vigil_login"
PAGE_SIZE = 100
TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; media-src 'self'; "
    "style-src 'self'; script-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@dataclass(frozen=True)
class ConsoleSite:
    """What the console serves: the monitor's parts it reads, and its own settings."""

    cameras: tuple[str, ...]
    classes: tuple[str, ...]
    normal_class: str
    alert_dir: Path
    export_dir: Path
    users: UserStore
    feed: LiveFeed
    secure_cookies: bool
    session_idle_s: float
    login_attempts: int
    lockout_s: float
    threshold: float | None = None
    live_wanted: threading.Event | None = None  # set while a stream is watched


SITE = web.AppKey("site", ConsoleSite)
STATE = web.AppKey("state", dict)


def build_app(site: ConsoleSite) -> web.Application:
    app = web.Application(client_max_size=64 * 1024)
    app[SITE] = site
    app[STATE] = {
        "sessions": Sessions(site.session_idle_s),
        "throttle": LoginThrottle(site.login_attempts, site.lockout_s),
        "reviews": ReviewLog(site.alert_dir),
        "pool": ThreadPoolExecutor(max_workers=2, thread_name_prefix="console-work"),
        "closing": asyncio.Event(),
        "viewers": 0,
        "templates": jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
        ),
    }
    app.on_response_prepare.append(_with_headers)
    app.on_shutdown.append(_closing)
    app.on_cleanup.append(_cleanup)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_get("/", live_grid)
    app.router.add_get("/live/{camera}", live_one)
    app.router.add_get("/stream/{camera}", stream)
    app.router.add_get("/alerts", alert_list)
    app.router.add_get("/alerts/{id}", alert_page)
    app.router.add_get("/alerts/{id}/files/{name}", alert_file)
    app.router.add_get("/alerts/{id}/play", alert_play)
    app.router.add_post("/alerts/{id}/review", review)
    app.router.add_get("/audit", audit)
    app.router.add_get("/export", export_page)
    app.router.add_post("/export", export)
    app.router.add_static("/static", STATIC)
    return app


async def _closing(app: web.Application) -> None:
    app[STATE]["closing"].set()  # live streams end at once


async def _cleanup(app: web.Application) -> None:
    app[STATE]["pool"].shutdown(wait=False, cancel_futures=True)


async def _with_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer, pages, files, streams and errors alike: no framing, no sniffing, no scripts."""
    response.headers.update(SECURITY_HEADERS)
    response.headers.setdefault("Cache-Control", "no-store")


# ------------------------------------------------------------------ helpers
def _client(request: web.Request) -> str:
    return request.remote or "?"


def render(request: web.Request, template: str, status: int = 200, **values) -> web.Response:
    session = request.get("session")
    site = request.app[SITE]
    html = (
        request.app[STATE]["templates"]
        .get_template(template)
        .render(
            user=session.name if session else None,
            role=request.get("role"),
            csrf=session.csrf if session else "",
            cameras=site.cameras,
            **values,
        )
    )
    return web.Response(text=html, content_type="text/html", status=status)


def requires(role: str, page: bool = True):
    """A handler for users with `role` or a stronger one. Without a session a page redirects to the
    login, anything else answers 401; a weaker role answers 403."""

    def wrap(handler):
        @functools.wraps(handler)
        async def checked(request: web.Request):
            site, state = request.app[SITE], request.app[STATE]
            session = state["sessions"].get(request.cookies.get(COOKIE), time.monotonic())
            user = None
            if session is not None:
                try:
                    user = site.users.users().get(session.name)
                except UserError as err:
                    logger.error("console: %s", err)
                    raise web.HTTPServiceUnavailable(text="the console's users file is unreadable") from None
            if user is None:
                if page and request.method == "GET":
                    raise web.HTTPFound("/login")
                raise web.HTTPUnauthorized(text="log in first")
            request["session"], request["role"] = session, user.role
            if not user.may(role):
                return render(request, "error.html", 403, message=f"This needs the {role} role.")
            if request.method == "POST":
                form = await request.post()
                if not secrets.compare_digest(str(form.get("csrf", "")), session.csrf):
                    logger.warning("console: %s: a form without its CSRF token was refused", session.name)
                    return render(request, "error.html", 403, message="The form's token is missing or old.")
                request["form"] = form
            return await handler(request)

        return checked

    return wrap


async def _entries(request: web.Request):
    """Every alert with its reviews, read on the worker threads: the logs can be megabytes, and the
    event loop also feeds the live streams."""
    site, state = request.app[SITE], request.app[STATE]
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(
        state["pool"], lambda: load_alerts(site.alert_dir, state["reviews"].read())
    )


async def _entry(request: web.Request):
    ident = request.match_info["id"]
    entry = next((e for e in await _entries(request) if e.id == ident), None)
    if entry is None:
        raise web.HTTPNotFound(text="no such alert")
    return entry


# ------------------------------------------------------------------ login
async def login_page(request: web.Request) -> web.Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", login_token=token, message="")
    response.set_cookie(
        LOGIN_COOKIE, token, httponly=True, samesite="Strict", secure=request.app[SITE].secure_cookies
    )
    return response


async def login(request: web.Request) -> web.Response:
    site, state = request.app[SITE], request.app[STATE]
    form = await request.post()
    name, password = str(form.get("name", ""))[:64], str(form.get("password", ""))
    token = request.cookies.get(LOGIN_COOKIE, "")
    if not token or not secrets.compare_digest(str(form.get("login_token", "")), token):
        return render(request, "error.html", 403, message="The login form is old: load it again.")
    keys, now = [f"name:{name}", f"address:{_client(request)}"], time.monotonic()
    throttle = state["throttle"]
    wait = throttle.locked_for(keys, now)
    if wait > 0:
        logger.warning("console: login refused for %r from %s: locked out", name, _client(request))
        return render(
            request,
            "login.html",
            429,
            login_token=token,
            message=f"Too many failed logins: try again in {wait / 60:.0f} min.",
        )
    loop = asyncio.get_running_loop()
    try:  # scrypt takes about 0.1 s: off the event loop
        user = await loop.run_in_executor(state["pool"], site.users.check, name, password)
    except UserError as err:
        logger.error("console: %s", err)
        return render(request, "error.html", 503, message="The console's users file is unreadable.")
    if user is None:
        throttle.failed(keys, now)
        logger.warning("console: failed login for %r from %s", name, _client(request))
        return render(request, "login.html", 401, login_token=token, message="Wrong name or password.")
    throttle.succeeded(keys)
    session = state["sessions"].open(user.name, now)
    logger.info("console: %s (%s) logged in from %s", user.name, user.role, _client(request))
    response = web.HTTPFound("/")
    response.set_cookie(COOKIE, session.token, httponly=True, samesite="Strict", secure=site.secure_cookies)
    response.del_cookie(LOGIN_COOKIE)
    raise response


@requires("viewer")
async def logout(request: web.Request) -> web.Response:
    request.app[STATE]["sessions"].close(request["session"].token)
    response = web.HTTPFound("/login")
    response.del_cookie(COOKIE)
    raise response


# ------------------------------------------------------------------ live view
@requires("viewer")
async def live_grid(request: web.Request) -> web.Response:
    return render(request, "live.html", shown=request.app[SITE].cameras)


@requires("viewer")
async def live_one(request: web.Request) -> web.Response:
    camera = request.match_info["camera"]
    if camera not in request.app[SITE].cameras:
        raise web.HTTPNotFound(text="no such camera")
    return render(request, "live.html", shown=(camera,))


@requires("viewer", page=False)
async def stream(request: web.Request) -> web.StreamResponse:
    """MJPEG: the newest picture whenever the viewer is ready for one, at most the feed's rate."""
    site, state = request.app[SITE], request.app[STATE]
    camera = request.match_info["camera"]
    if camera not in site.cameras:
        raise web.HTTPNotFound(text="no such camera")
    response = web.StreamResponse(
        headers={
            "Content-Type": "multipart/x-mixed-replace; boundary=frame",
            "Cache-Control": "no-store",
        }
    )
    await response.prepare(request)
    loop, closing = asyncio.get_running_loop(), state["closing"]
    state["viewers"] += 1
    if site.live_wanted is not None:
        site.live_wanted.set()
    sent = None
    try:
        while not closing.is_set():
            frame_id, jpeg = await loop.run_in_executor(state["pool"], site.feed.jpeg, camera)
            if frame_id != sent or frame_id == -1:
                head = f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                await response.write(head.encode() + jpeg + b"\r\n")
                sent = frame_id
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(closing.wait(), site.feed.period if frame_id != -1 else 1.0)
    except ConnectionError:  # the viewer went away
        pass
    finally:
        state["viewers"] -= 1
        if state["viewers"] == 0 and site.live_wanted is not None:
            site.live_wanted.clear()
    return response


# ------------------------------------------------------------------ the review queue
@requires("viewer")
async def alert_list(request: web.Request) -> web.Response:
    q = request.query
    wanted = AlertFilter(
        camera=q.get("camera", ""),
        label=q.get("class", ""),
        state=q.get("state", "") if q.get("state", "") in REVIEW_STATES else "",
        since=q.get("since", "").strip(),
        until=q.get("until", "").strip(),
    )
    entries = [e for e in await _entries(request) if wanted.matches(e)]
    return render(
        request,
        "alerts.html",
        entries=entries[:PAGE_SIZE],
        total=len(entries),
        wanted=wanted,
        classes=[c for c in request.app[SITE].classes if c != request.app[SITE].normal_class],
        states=REVIEW_STATES,
    )


@requires("viewer")
async def alert_page(request: web.Request) -> web.Response:
    site = request.app[SITE]
    entry = await _entry(request)
    trace = (entry.end or {}).get("trace") or {}
    present = {name for name in entry.files() if (site.alert_dir / name).is_file()}
    return render(
        request,
        "alert.html",
        entry=entry,
        summary=alert_summary(entry),
        chart=trace_svg(trace, entry.record["class"], site.threshold),
        present=present,
    )


def _evidence_path(request: web.Request, entry, name: str) -> Path:
    """Only a file the alert's own lines name, inside the alert folder: no other path is reachable."""
    site = request.app[SITE]
    if name not in entry.files() or "/" in name or "\\" in name or name.startswith("."):
        raise web.HTTPNotFound(text="no such file for this alert")
    path = (site.alert_dir / name).resolve()
    if path.parent != site.alert_dir.resolve() or not path.is_file():
        raise web.HTTPNotFound(text="no such file for this alert")
    return path


@requires("viewer", page=False)
async def alert_file(request: web.Request) -> web.StreamResponse:
    path = _evidence_path(request, await _entry(request), request.match_info["name"])
    return web.FileResponse(path, headers={"Cache-Control": "private, max-age=3600"})


@requires("viewer", page=False)
async def alert_play(request: web.Request) -> web.StreamResponse:
    entry = await _entry(request)
    name = (entry.clip or {}).get("clip")
    if not name:
        raise web.HTTPNotFound(text="this alert has no finished clip")
    path = _evidence_path(request, entry, name)
    loop = asyncio.get_running_loop()
    try:
        playable = await loop.run_in_executor(request.app[STATE]["pool"], playable_clip, path)
    except Exception as err:  # a damaged clip: one line, the page stays up
        logger.error("console: clip %s cannot be made playable: %s", name, err)
        raise web.HTTPUnprocessableEntity(text="this clip cannot be decoded") from None
    return web.FileResponse(playable, headers={"Content-Type": "video/mp4"})


@requires("reviewer")
async def review(request: web.Request) -> web.Response:
    entry = await _entry(request)
    form, session = request["form"], request["session"]
    try:
        line = request.app[STATE]["reviews"].decide(
            entry.id, session.name, str(form.get("decision", "")), str(form.get("note", "")), time.time()
        )
    except ReviewError as err:
        return render(request, "error.html", 400, message=str(err))
    except OSError as err:
        logger.error("console: review of %s not recorded: %s", entry.id, err)
        return render(request, "error.html", 500, message="The review could not be written (see the log).")
    logger.info("console: %s: %s by %s (was %s)", entry.id, line["decision"], session.name, line["previous"])
    raise web.HTTPFound(f"/alerts/{entry.id}")


@requires("reviewer")
async def audit(request: web.Request) -> web.Response:
    lines = list(reversed(request.app[STATE]["reviews"].read()))
    return render(request, "audit.html", lines=lines)


@requires("admin")
async def export_page(request: web.Request) -> web.Response:
    return render(request, "export.html", result=None)


@requires("admin")
async def export(request: web.Request) -> web.Response:
    site = request.app[SITE]
    entries = await _entries(request)
    loop = asyncio.get_running_loop()
    try:
        result = await loop.run_in_executor(
            request.app[STATE]["pool"],
            export_reviewed,
            entries,
            site.alert_dir,
            site.export_dir,
            site.normal_class,
        )
    except OSError as err:
        logger.error("console: export failed: %s", err)
        return render(request, "error.html", 500, message=f"The export failed: {err.strerror or err}.")
    logger.info("console: %s exported %s to %s", request["session"].name, result.counts, result.folder)
    return render(request, "export.html", result=result)
