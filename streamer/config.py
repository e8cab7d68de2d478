"""config.toml -> frozen dataclasses, with one-line errors naming the key, the expectation and the value."""

from __future__ import annotations

import math
import os
import re
import tomllib
import types
import typing
from dataclasses import MISSING, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from urllib.parse import quote

from streamer.redact import redact_url

# Camera and sink names: they name files, metric labels and MQTT topics.
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MQTT_TOPIC = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
# `{VIGIL_DOOR_PASSWORD}` in a camera source is taken from the environment (systemd reads it from a
# root-only EnvironmentFile), so the config file holds no password. Only VIGIL_ names: a config
# must not be able to pull arbitrary variables of the service's environment into a URL.
SECRET_PLACEHOLDER = re.compile(r"\{(VIGIL_[A-Z0-9_]+)\}")
# Keys whose values are never shown, not even in an error about their type.
SECRET_KEYS = ("password", "secret")


class ConfigError(Exception):
    """A config that cannot be used: 'key.path: expected X, got Y'."""


def _range(lo: float | None = None, hi: float | None = None) -> dict:
    return {"range": (lo, hi)}


def _choices(*values: str) -> dict:
    return {"choices": values}


@dataclass(frozen=True)
class ModelConfig:
    bundle: str = "models/demo"
    providers: tuple[str, ...] = field(
        default=("tensorrt", "cuda", "cpu"), metadata=_choices("tensorrt", "cuda", "cpu")
    )
    threads: int = field(default=0, metadata=_range(0, 256))
    tensorrt_fp16: bool = False


@dataclass(frozen=True)
class InferenceConfig:
    stride: int = field(default=4, metadata=_range(1, 1024))
    backbone_batch: int = field(default=8, metadata=_range(1, 256))
    # "grpc://host:port": the bundle runs on that Triton server (`vigil serve`), not here.
    server: str = ""
    # Per request; at most 4 s, so a server that hangs never stalls the worker past its watchdog.
    server_timeout_s: float = field(default=2.0, metadata=_range(0.05, 4.0))
    # The head (GRU, classifier, gradients, map) on the server too, or here: here it costs 1.5 ms of
    # one core a window, and keeps each window's activations (8 x 98 kB for the demo model) off
    # the network (benchmarks/remote.py).
    server_head: bool = True


@dataclass(frozen=True)
class CaptureConfig:
    ring_size: int = field(default=64, metadata=_range(2, 100_000))
    rtsp_transport: str = field(default="tcp", metadata=_choices("tcp", "udp"))
    open_timeout_s: float = field(default=5.0, metadata=_range(0.1, 600))
    read_timeout_s: float = field(default=2.0, metadata=_range(0.1, 600))
    stall_timeout_s: float = field(default=5.0, metadata=_range(0.1, 3600))
    reconnect_min_s: float = field(default=0.5, metadata=_range(0.01, 3600))
    reconnect_max_s: float = field(default=30.0, metadata=_range(0.01, 86_400))
    watchdog_s: float = field(default=60.0, metadata=_range(0, 86_400))
    hw_decode: str = field(default="none", metadata=_choices("none", "auto", "vaapi", "mfx", "d3d11", "drm"))
    reader: str = field(default="auto", metadata=_choices("auto", "opencv"))


@dataclass(frozen=True)
class CameraConfig:
    name: str
    source: str
    substream: str = ""  # the camera's low-resolution stream: analysed, and shown in a grid
    enabled: bool = True
    loop: bool = False
    realtime: bool = True


@dataclass(frozen=True)
class AlertsConfig:
    directory: str = "alerts"
    threshold: float = field(default=0.7, metadata=_range(0.0, 1.0))
    class_thresholds: dict[str, float] = field(default_factory=dict, metadata=_range(0.0, 1.0))
    k: int = field(default=2, metadata=_range(1, 1000))
    n: int = field(default=3, metadata=_range(1, 1000))
    cooldown_s: float = field(default=30.0, metadata=_range(0, 86_400))
    max_log_bytes: int = field(default=10_000_000, metadata=_range(1024, None))
    log_backups: int = field(default=5, metadata=_range(0, 1000))
    pre_roll_s: float = field(default=3.0, metadata=_range(0, 120))
    post_roll_s: float = field(default=3.0, metadata=_range(0, 120))
    clip_quality: int = field(default=85, metadata=_range(30, 100))


@dataclass(frozen=True)
class OverlayConfig:
    display: str = field(default="auto", metadata=_choices("auto", "window", "headless"))
    heatmap: bool = True
    contours: bool = True
    fullscreen: bool = False
    heatmap_alpha: float = field(default=0.35, metadata=_range(0.0, 1.0))
    heat_memory_s: float = field(default=0.4, metadata=_range(0.0, 10.0))
    contour_levels: tuple[float, ...] = field(default=(0.3, 0.5, 0.7, 0.9), metadata=_range(0.0, 1.0))
    output_video: str = ""


@dataclass(frozen=True)
class MetricsConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = field(default=9108, metadata=_range(1, 65535))


@dataclass(frozen=True)
class MqttConfig:
    """An MQTT broker (Home Assistant, Frigate-style topics). Secrets may be `{VIGIL_...}`."""

    enabled: bool = False
    host: str = "localhost"
    port: int = field(default=1883, metadata=_range(1, 65535))
    client_id: str = ""  # "" = vigil-<hostname>: unique per machine, stable across restarts
    topic_prefix: str = "vigil"
    username: str = ""
    password: str = ""
    tls: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    qos: int = field(default=1, metadata=_range(1, 2))
    keepalive_s: int = field(default=30, metadata=_range(5, 3600))
    snapshots: bool = True
    discovery: bool = True
    discovery_prefix: str = "homeassistant"
    node_id: str = "vigil"
    publish_timeout_s: float = field(default=5.0, metadata=_range(0.1, 600))
    retry_min_s: float = field(default=0.5, metadata=_range(0.01, 3600))
    retry_max_s: float = field(default=30.0, metadata=_range(0.01, 86_400))
    queue_max: int = field(default=10_000, metadata=_range(1, 10_000_000))


@dataclass(frozen=True)
class WebhookConfig:
    """An HTTP endpoint that gets every alert's messages as signed JSON POSTs."""

    name: str
    url: str
    secret: str = ""
    enabled: bool = True
    timeout_s: float = field(default=5.0, metadata=_range(0.1, 600))
    snapshot: bool = False
    retry_min_s: float = field(default=0.5, metadata=_range(0.01, 3600))
    retry_max_s: float = field(default=60.0, metadata=_range(0.01, 86_400))
    queue_max: int = field(default=10_000, metadata=_range(1, 10_000_000))


@dataclass(frozen=True)
class SinksConfig:
    mqtt: MqttConfig = MqttConfig()
    webhooks: tuple[WebhookConfig, ...] = ()


@dataclass(frozen=True)
class ConsoleConfig:
    """The web console (live view, review queue): off unless enabled, on loopback unless told.
    Without TLS files it expects a TLS reverse proxy in front (README) for anything but loopback."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = field(default=8480, metadata=_range(1, 65535))
    users_file: str = "users.txt"  # `vigil users add NAME --role reviewer` writes it
    export_dir: str = "exports"  # reviewed alerts as labelled clips, the layout `vigil train` reads
    tls_cert: str = ""
    tls_key: str = ""
    behind_https_proxy: bool = False  # secure cookies without TLS files: a proxy terminates TLS
    live_fps: float = field(default=5.0, metadata=_range(0.2, 30.0))
    live_width: int = field(default=960, metadata=_range(160, 3840))
    session_idle_s: float = field(default=1800.0, metadata=_range(60, 86_400))
    login_attempts: int = field(default=5, metadata=_range(1, 1000))
    lockout_s: float = field(default=900.0, metadata=_range(1, 86_400))


@dataclass(frozen=True)
class Config:
    model: ModelConfig = ModelConfig()
    inference: InferenceConfig = InferenceConfig()
    capture: CaptureConfig = CaptureConfig()
    cameras: tuple[CameraConfig, ...] = ()
    alerts: AlertsConfig = AlertsConfig()
    overlay: OverlayConfig = OverlayConfig()
    metrics: MetricsConfig = MetricsConfig()
    sinks: SinksConfig = SinksConfig()
    console: ConsoleConfig = ConsoleConfig()
    base_dir: str = field(default=".", metadata={"internal": True})

    def resolve(self, relative: str) -> Path:
        """A path from the config, taken relative to the config file's folder."""
        path = Path(relative).expanduser()
        return path if path.is_absolute() else Path(self.base_dir) / path


def _type_name(value) -> str:
    return {bool: "boolean", int: "integer", float: "float", str: "string", list: "array", dict: "table"}.get(
        type(value), type(value).__name__
    )


def _shown(value, key: str) -> str:
    if key.endswith(SECRET_KEYS):
        return "(hidden)"
    text = repr(value)
    return redact_url(text) if key.endswith(("source", "substream", "url")) else text


def _fail(key: str, expected: str, value) -> typing.NoReturn:
    raise ConfigError(f"{key}: expected {expected}, got {_type_name(value)} {_shown(value, key)}")


def _check_scalar(kind: type, value, key: str, meta: dict):
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        _fail(key, {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}[kind], value)
    if kind is float and not math.isfinite(value):
        _fail(key, "a finite number", value)
    lo, hi = meta.get("range", (None, None))
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        bounds = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise ConfigError(f"{key}: expected {bounds}, got {value!r}")
    choices = meta.get("choices")
    if choices and value not in choices:
        raise ConfigError(f"{key}: expected one of {list(choices)}, got {value!r}")
    return value


def _convert(hint, value, key: str, meta: dict):
    origin = typing.get_origin(hint)
    if is_dataclass(hint):
        return _build(hint, value, key)
    if origin is tuple:
        if not isinstance(value, list):
            _fail(key, "an array", value)
        item = typing.get_args(hint)[0]
        return tuple(_convert(item, v, f"{key}[{i}]", meta) for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            _fail(key, "a table", value)
        item = typing.get_args(hint)[1]
        return {k: _convert(item, v, f"{key}.{k}", meta) for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):
        raise TypeError(f"{key}: union types are not supported in config")
    return _check_scalar(hint, value, key, meta)


def _build(cls, table, path: str):
    if not isinstance(table, dict):
        _fail(path, "a table", table)
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in fields(cls) if not f.metadata.get("internal")}
    for key in table:
        if key not in known:
            where = f"{path}.{key}" if path else key
            raise ConfigError(f"{where}: unknown key (expected one of {sorted(known)})")
    values = {}
    for name, f in known.items():
        where = f"{path}.{name}" if path else name
        if name in table:
            values[name] = _convert(hints[name], table[name], where, dict(f.metadata))
        elif f.default is MISSING and f.default_factory is MISSING:
            raise ConfigError(f"{where}: missing (required)")
    return cls(**values)


def _check_name(key: str, name: str, taken: set[str], what: str) -> None:
    """Camera and sink names: file, label and topic safe, and unique among their kind."""
    if not NAME.match(name):
        raise ConfigError(f"{key}: expected letters, digits, '_' or '-' (1-64), got {name!r}")
    if name in taken:
        raise ConfigError(f"{key}: expected a unique {what}, got {name!r} twice")
    taken.add(name)


def _check_cross_fields(config: Config) -> None:
    names: set[str] = set()
    for i, camera in enumerate(config.cameras):
        _check_name(f"cameras[{i}].name", camera.name, names, "camera name")
        if not camera.source.strip():
            raise ConfigError(f"cameras[{i}].source: expected a URL, webcam index or file, got ''")
    a = config.alerts
    if a.k > a.n:
        raise ConfigError(f"alerts.k: expected <= alerts.n ({a.n}), got {a.k}")
    c = config.capture
    if c.reconnect_min_s > c.reconnect_max_s:
        raise ConfigError(
            f"capture.reconnect_min_s: expected <= capture.reconnect_max_s "
            f"({c.reconnect_max_s}), got {c.reconnect_min_s}"
        )
    if not config.model.providers:
        raise ConfigError("model.providers: expected at least one provider, got []")
    levels = config.overlay.contour_levels
    if list(levels) != sorted(set(levels)):
        raise ConfigError(f"overlay.contour_levels: expected strictly increasing levels, got {list(levels)}")
    _check_mqtt(config.sinks.mqtt)
    _check_webhooks(config.sinks.webhooks)
    console = config.console
    if bool(console.tls_cert) != bool(console.tls_key):
        raise ConfigError("console.tls_cert: expected tls_cert and tls_key together, got only one")


def _check_retry(key: str, low: float, high: float) -> None:
    if low > high:
        raise ConfigError(f"{key}.retry_min_s: expected <= {key}.retry_max_s ({high}), got {low}")


def _check_mqtt(mqtt: MqttConfig) -> None:
    key = "sinks.mqtt"
    _check_retry(key, mqtt.retry_min_s, mqtt.retry_max_s)
    for name in ("topic_prefix", "discovery_prefix"):
        topic = getattr(mqtt, name)
        if not MQTT_TOPIC.match(topic):
            raise ConfigError(
                f"{key}.{name}: expected a topic of letters, digits, '_', '-' and inner '/', got {topic!r}"
            )
    if not NAME.match(mqtt.node_id):
        raise ConfigError(f"{key}.node_id: expected letters, digits, '_' or '-' (1-64), got {mqtt.node_id!r}")
    if not mqtt.host.strip():
        raise ConfigError(f"{key}.host: expected a broker's host name or address, got {mqtt.host!r}")
    if bool(mqtt.cert_file) != bool(mqtt.key_file):
        raise ConfigError(f"{key}.cert_file: expected cert_file and key_file together, got only one")
    if (mqtt.ca_file or mqtt.cert_file) and not mqtt.tls:
        raise ConfigError(f"{key}.tls: expected true when ca_file or cert_file is set, got false")


def _check_webhooks(webhooks: tuple[WebhookConfig, ...]) -> None:
    names = {"mqtt"}
    for i, hook in enumerate(webhooks):
        key = f"sinks.webhooks[{i}]"
        _check_name(f"{key}.name", hook.name, names, "sink name (not 'mqtt')")
        if not hook.url.startswith(("http://", "https://")):
            raise ConfigError(
                f"{key}.url: expected an http:// or https:// URL, got {_shown(hook.url, 'url')}"
            )
        if hook.enabled and not hook.secret:
            raise ConfigError(
                f"{key}.secret: expected a shared secret to sign each POST with (say "
                "\"{VIGIL_WEBHOOK_SECRET}\"), got ''"
            )
        _check_retry(key, hook.retry_min_s, hook.retry_max_s)


def substitute_secrets(
    source: str, key: str, environ: dict[str, str] | None = None, in_url: bool = True
) -> str:
    """`{VIGIL_X}` -> the variable's value; percent-encoded in a URL, so any character of a password
    works there."""
    environ = os.environ if environ is None else environ

    def value(match: re.Match) -> str:
        name = match.group(1)
        if name not in environ:
            raise ConfigError(
                f"{key}: environment variable {name} is not set (for a service: put it in "
                "/etc/vigil/credentials, see README)"
            )
        return quote(environ[name], safe="") if in_url else environ[name]

    return SECRET_PLACEHOLDER.sub(value, source)


def _is_file_source(source: str) -> bool:
    return "://" not in source and not source.strip().isdigit()


def _with_sources_resolved(config: Config) -> Config:
    """Secrets substituted into camera URLs and sink settings; files taken from the config file's
    folder."""
    cameras = []
    for i, camera in enumerate(config.cameras):
        resolved = {}
        for key in ("source", "substream") if camera.substream else ("source",):
            source = substitute_secrets(getattr(camera, key), f"cameras[{i}].{key}")
            resolved[key] = str(config.resolve(source)) if _is_file_source(source) else source
        cameras.append(replace(camera, **resolved))
    return replace(config, cameras=tuple(cameras), sinks=_sinks_resolved(config))


def _sinks_resolved(config: Config) -> SinksConfig:
    mqtt = config.sinks.mqtt
    if mqtt.enabled:
        mqtt = replace(
            mqtt,
            username=substitute_secrets(mqtt.username, "sinks.mqtt.username", in_url=False),
            password=substitute_secrets(mqtt.password, "sinks.mqtt.password", in_url=False),
            **{
                name: str(config.resolve(getattr(mqtt, name)))
                for name in ("ca_file", "cert_file", "key_file")
                if getattr(mqtt, name)
            },
        )
    webhooks = tuple(
        replace(
            hook,
            url=substitute_secrets(hook.url, f"sinks.webhooks[{i}].url"),
            secret=substitute_secrets(hook.secret, f"sinks.webhooks[{i}].secret", in_url=False),
        )
        if hook.enabled
        else hook
        for i, hook in enumerate(config.sinks.webhooks)
    )
    return SinksConfig(mqtt, webhooks)


def parse_config(data: dict, base_dir: str | Path = ".") -> Config:
    """A validated Config from an already parsed TOML table."""
    config = _build(Config, data, "")
    _check_cross_fields(config)
    config = Config(
        **{f.name: getattr(config, f.name) for f in fields(Config) if f.name != "base_dir"},
        base_dir=str(base_dir),
    )
    return _with_sources_resolved(config)


def load_config(path: str | Path) -> Config:
    """Read and validate a TOML config; every failure is a ConfigError naming the file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not valid TOML ({err})") from None
    try:
        return parse_config(data, base_dir=path.resolve().parent)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
