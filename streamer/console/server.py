"""The console's server thread: its own asyncio loop running the aiohttp application, started and
stopped by the monitor. A port that cannot be bound is a config error at start, naming the key."""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading

from aiohttp import web

from streamer.config import Config, ConfigError
from streamer.console.app import ConsoleSite, build_app
from streamer.console.auth import UserStore
from streamer.console.live import LiveFeed

logger = logging.getLogger(__name__)
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 3.0


def tls_context(config: Config) -> ssl.SSLContext | None:
    console = config.console
    if not console.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(config.resolve(console.tls_cert), config.resolve(console.tls_key))
    except (OSError, ssl.SSLError) as err:
        raise ConfigError(f"console.tls_cert: cannot load the certificate and key ({err})") from None
    return context


class ConsoleServer(threading.Thread):
    def __init__(self, site: ConsoleSite, host: str, port: int, tls: ssl.SSLContext | None):
        super().__init__(name="console", daemon=True)
        self.site, self.host, self.port, self.tls = site, host, port, tls
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}/"

    def start_serving(self) -> None:
        """Start the thread and wait until it listens; ConfigError when it cannot."""
        self.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise ConfigError(f"console.port: the console did not start within {START_TIMEOUT_S:.0f} s")
        if self._error is not None:
            err = self._error
            raise ConfigError(
                f"console.port: cannot listen on {self.host}:{self.port} "
                f"({getattr(err, 'strerror', None) or err}; another monitor running?): pick another port "
                "or set console.enabled = false"
            )
        logger.info("console on %s", self.url)

    def run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._serve())
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        runner = web.AppRunner(
            build_app(self.site), access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port, ssl_context=self.tls)
            await site.start()
        except OSError as err:
            self._error = err
            self._ready.set()
            await runner.cleanup()
            return
        self._ready.set()
        await self._stopping.wait()
        await runner.cleanup()

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self.is_alive():
            self.join(STOP_TIMEOUT_S)
            if self.is_alive():
                logger.warning("console still stopping after %.0f s (daemon, left behind)", STOP_TIMEOUT_S)


def start_console(config: Config, cameras: list[str], classes, normal_class: str, alert_dir, compositor):
    """The console of a built monitor, listening; None when it is not enabled."""
    console = config.console
    if not console.enabled:
        return None
    tls = tls_context(config)
    site = ConsoleSite(
        cameras=tuple(cameras),
        classes=tuple(classes),
        normal_class=normal_class,
        alert_dir=alert_dir,
        export_dir=config.resolve(console.export_dir),
        users=UserStore(config.resolve(console.users_file)),
        feed=LiveFeed(
            cameras, compositor.live_picture, compositor.camera_status, console.live_fps, console.live_width
        ),
        secure_cookies=tls is not None or console.behind_https_proxy,
        session_idle_s=console.session_idle_s,
        login_attempts=console.login_attempts,
        lockout_s=console.lockout_s,
        threshold=config.alerts.threshold,
        live_wanted=compositor.live_wanted,
    )
    server = ConsoleServer(site, console.host, console.port, tls)
    server.start_serving()
    return server
