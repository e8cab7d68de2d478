"""A real MQTT broker (Debian's mosquitto) on 127.0.0.1 and a subscriber that records everything it
receives, for the sink tests and the delivery benchmark. The broker keeps sessions on disk, so a
subscriber's subscription outlives the broker being killed."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt

from testbed.rtsp import free_port


def mosquitto_available() -> bool:
    return shutil.which("mosquitto") is not None


@dataclass(frozen=True)
class TestCertificates:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it."""

    ca: Path
    cert: Path
    key: Path


def make_certificates(folder: Path) -> TestCertificates:
    """With the openssl command (Debian's `openssl`): a CA, then a key and certificate for 127.0.0.1."""
    folder.mkdir(parents=True, exist_ok=True)
    ca, ca_key = folder / "ca.pem", folder / "ca.key"
    cert, key, request = folder / "server.pem", folder / "server.key", folder / "server.csr"
    (folder / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    for command in (
        f"req -x509 -newkey rsa:2048 -nodes -keyout {ca_key} -out {ca} -days 2 -subj /CN=VigilTestCA",
        f"req -newkey rsa:2048 -nodes -keyout {key} -out {request} -subj /CN=127.0.0.1",
        f"x509 -req -in {request} -CA {ca} -CAkey {ca_key} -CAcreateserial -out {cert} -days 2 "
        f"-extfile {folder / 'san.cnf'}",
    ):
        subprocess.run(["openssl", *command.split()], check=True, capture_output=True)
    return TestCertificates(ca, cert, key)


class Broker:
    """mosquitto on a fixed port of its own; kill() and start() again keep the port and the
    persisted sessions (saved every second)."""

    def __init__(
        self, folder: Path, users: dict[str, str] | None = None, tls: TestCertificates | None = None
    ):
        self.folder, self.port, self.process = Path(folder), free_port(), None
        self.folder.mkdir(parents=True, exist_ok=True)
        lines = [
            f"listener {self.port} 127.0.0.1",
            *([f"cafile {tls.ca}", f"certfile {tls.cert}", f"keyfile {tls.key}"] if tls else []),
            "persistence true",
            f"persistence_location {self.folder}/",
            "autosave_interval 1",
            f"log_dest file {self.folder}/mosquitto.log",
        ]
        if os.geteuid() == 0:  # else it turns into user 'mosquitto', who cannot read a test's folder
            lines.append("user root")
        if users:
            passwords = self.folder / "passwords"
            passwords.touch(0o600)
            for user, password in users.items():  # -b: a ':' in a password is fine this way (not with -U)
                subprocess.run(["mosquitto_passwd", "-b", str(passwords), user, password], check=True)
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines.append("allow_anonymous true")
        (self.folder / "mosquitto.conf").write_text("\n".join(lines) + "\n")

    def start(self) -> Broker:
        self.process = subprocess.Popen(
            ["mosquitto", "-c", str(self.folder / "mosquitto.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on {self.port}: {self.log()}")

    def kill(self) -> None:
        """SIGKILL: no clean goodbye to anyone."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(5)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(5)

    def log(self) -> str:
        path = self.folder / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool
    at: float  # time.time() when it arrived


class Subscriber:
    """A persistent-session subscriber to '#' (QoS 1) that keeps every message with its arrival
    time; reconnects on its own while the broker is away."""

    def __init__(
        self,
        port: int,
        topics: tuple[str, ...] = ("#",),
        client_id: str = "test-subscriber",
        auth: tuple[str, str] | None = None,
        ca_file: Path | None = None,
    ):
        self.messages: list[Received] = []
        self.connected = threading.Event()
        self._lock = threading.RLock()  # conditions may read it again
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        self.client.reconnect_delay_set(1, 1)
        if auth:
            self.client.username_pw_set(*auth)
        if ca_file:
            self.client.tls_set(ca_certs=str(ca_file))
        self.client.on_connect = lambda c, *_: (
            [c.subscribe(t, qos=1) for t in topics],
            self.connected.set(),
        )
        self.client.on_disconnect = lambda *_: self.connected.clear()
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", port, keepalive=5)
        self.client.loop_start()
        if not self.connected.wait(10):
            raise RuntimeError("subscriber did not connect")
        time.sleep(0.2)  # the SUBACK

    def _message(self, client, userdata, message) -> None:
        with self._lock:
            self.messages.append(Received(message.topic, message.payload, message.retain, time.time()))

    def on(self, topic: str) -> list[Received]:
        with self._lock:
            return [m for m in self.messages if m.topic == topic]

    def wait_for(self, condition, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if condition(self.messages):
                    return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
