"""Everything `vigil run` would refuse at start, checked without starting anything. `vigil
check-config` runs the same checks, so its OK means the monitor will start with that file."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from streamer.capture.sources import SourceError, source_kind
from streamer.config import Config, ConfigError
from streamer.console.users import UserError, read_users
from streamer.inference.bundle import BundleError, read_manifest, verify_checksums
from streamer.redact import redact_url
from streamer.serving.protocol import server_address

# Characters that end the user-info part of a URL when they appear unencoded in a password.
RESERVED_IN_USERINFO = "@#?/[] "


def unencoded_in_userinfo(url: str) -> list[str]:
    """Reserved characters written as themselves in a URL's user name or password. FFmpeg splits the
    URL at them, so the camera sees a wrong password (and the log half of it)."""
    if "://" not in url:
        return []
    rest = url.split("://", 1)[1]
    if "@" not in rest:
        return []
    userinfo = rest[: rest.rfind("@")]
    colon, slash = userinfo.find(":"), userinfo.find("/")
    if slash >= 0 and (colon < 0 or slash < colon):
        return []  # 'host/path@x': an '@' in the path, no credentials
    if slash >= 0 and userinfo[colon + 1 : slash].isdigit():
        return []  # 'host:554/path@x'
    return sorted({c for c in userinfo if c in RESERVED_IN_USERINFO})


def check_cameras(config: Config) -> None:
    enabled = [(i, c) for i, c in enumerate(config.cameras) if c.enabled]
    if not enabled:
        raise ConfigError("cameras: expected at least one enabled camera, got none")
    for i, camera in enabled:
        check_source(f"cameras[{i}].source", camera.source)
        if camera.substream:
            check_source(f"cameras[{i}].substream", camera.substream)


def check_source(key: str, source: str) -> None:
    try:
        kind = source_kind(source)
    except SourceError as err:
        raise ConfigError(f"{key}: {err}, got {redact_url(source)!r}") from None
    reserved = unencoded_in_userinfo(source)
    if reserved:
        codes = ", ".join(f"{c!r} as %{ord(c):02X}" for c in reserved)
        raise ConfigError(
            f"{key}: the user name or password holds reserved characters: percent-encode "
            f"them ({codes}) or take the password from the environment "
            f"({{VIGIL_...}}, see config.toml); got {redact_url(source)!r}"
        )
    if kind == "file" and not Path(source).is_file():
        raise ConfigError(f"{key}: expected an existing video file, got {source!r} (no such file)")


def check_bundle(config: Config) -> None:
    directory = config.resolve(config.model.bundle)
    if not directory.is_dir():
        raise ConfigError(
            f"model.bundle: expected a bundle directory, got {str(directory)!r} (no such directory)"
        )
    try:
        manifest = read_manifest(directory)
        verify_checksums(directory, manifest)
    except BundleError as err:
        raise ConfigError(f"model.bundle: {err}") from None
    unknown = sorted(set(config.alerts.class_thresholds) - set(manifest.classes))
    if unknown:
        raise ConfigError(
            f"alerts.class_thresholds: expected classes of the bundle {list(manifest.classes)}, got {unknown}"
        )


def check_inference_server(config: Config) -> None:
    """A server's URL well formed and its client installed; whether it is up is the monitor's to
    find out (it starts without it, and analyses once it answers)."""
    url = config.inference.server
    if not url:
        return
    try:
        server_address(url)
    except ValueError as err:
        raise ConfigError(f"inference.server: {err}, got {redact_url(url)!r}") from None
    if importlib.util.find_spec("tritonclient") is None:
        raise ConfigError(
            "inference.server: needs tritonclient, not in this install: pip install -e '.[remote]'"
        )


def _writable_folder(folder: Path, key: str, what: str) -> None:
    if not folder.is_dir():
        raise ConfigError(f"{key}: the folder for {what} does not exist: {str(folder)!r}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"{key}: the folder for {what} is not writable by this user: {str(folder)!r}")


def check_outputs(config: Config) -> None:
    alerts = config.resolve(config.alerts.directory)
    existing = next((p for p in (alerts, *alerts.parents) if p.exists()), None)  # created inside it
    if existing is not None:
        _writable_folder(existing, "alerts.directory", "the alert log")
    if config.overlay.output_video:
        _writable_folder(
            config.resolve(config.overlay.output_video).parent, "overlay.output_video", "the annotated video"
        )


def check_sinks(config: Config) -> None:
    """TLS files that are not there fail here, not later as a broker that never connects."""
    mqtt = config.sinks.mqtt
    if not mqtt.enabled:
        return
    for name in ("ca_file", "cert_file", "key_file"):
        path = getattr(mqtt, name)
        if path and not os.access(path, os.R_OK):
            raise ConfigError(f"sinks.mqtt.{name}: expected a readable file, got {path!r}")


LOOPBACK = ("127.0.0.1", "::1", "localhost")


def check_console(config: Config) -> None:
    """A console nobody can log in to, or one that would send passwords in the clear over a
    network, is refused at start."""
    console = config.console
    if not console.enabled:
        return
    path = config.resolve(console.users_file)
    if not path.is_file():
        raise ConfigError(
            f"console.users_file: no users file at {str(path)!r}: create one with "
            "`vigil users add NAME --role admin --file PATH`"
        )
    try:
        if not read_users(path):
            raise ConfigError(
                f"console.users_file: {str(path)!r} has no user: add one with `vigil users add`"
            )
    except UserError as err:
        raise ConfigError(f"console.users_file: {err}") from None
    for name in ("tls_cert", "tls_key"):
        value = getattr(console, name)
        if value and not os.access(config.resolve(value), os.R_OK):
            raise ConfigError(f"console.{name}: expected a readable file, got {value!r}")
    if console.host not in LOOPBACK and not console.tls_cert and not console.behind_https_proxy:
        raise ConfigError(
            f"console.host: {console.host!r} reaches the network, where passwords must not travel in the "
            "clear: set console.tls_cert and tls_key, or put a TLS proxy in front and set "
            "behind_https_proxy = true"
        )


def check_startable(config: Config) -> None:
    """Raise the ConfigError `vigil run` would stop on: no camera, a camera file or URL that can
    never work, a missing or damaged bundle, folders it cannot write, TLS files it cannot read."""
    check_cameras(config)
    check_bundle(config)
    check_inference_server(config)
    check_outputs(config)
    check_sinks(config)
    check_console(config)
