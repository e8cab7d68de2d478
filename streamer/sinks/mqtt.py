"""MQTT, the way Frigate and Home Assistant speak it:

- `<prefix>/available`: `online` (retained) while connected; the broker's last will says `offline`.
- `<prefix>/events`: every event message as JSON (new, update, end), QoS 1 or 2.
- `<prefix>/<camera>/<class>`: `ON` from an alert until its event ends, else `OFF` (retained).
- `<prefix>/<camera>/snapshot`: the latest alert's snapshot JPEG (retained).
- Home Assistant discovery under `<discovery_prefix>/...`: a binary sensor per camera and class and
  a camera entity per camera, republished whenever Home Assistant announces itself online.

paho's own thread keeps the connection (and reconnects); deliveries wait for the broker's ack."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from streamer.config import MqttConfig
from streamer.sinks.delivery import DeliveryError

logger = logging.getLogger(__name__)
ONLINE, OFFLINE = "online", "offline"


class MqttSink:
    name = "mqtt"
    keeps_state = True

    def __init__(self, config: MqttConfig, cameras: list[str], classes: list[str], alert_dir: Path):
        self.config, self.cameras, self.classes, self.alert_dir = config, cameras, classes, alert_dir
        self.timeout_s = config.publish_timeout_s
        self.where = f"{'mqtts' if config.tls else 'mqtt'}://{config.host}:{config.port}"
        self.prefix = config.topic_prefix
        self.availability = f"{self.prefix}/available"
        self.birth = f"{config.discovery_prefix}/status"
        self.connected = threading.Event()
        self.client = self._client()

    def _client(self) -> mqtt.Client:
        c = self.config
        client_id = c.client_id or f"vigil-{socket.gethostname()}"
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        if c.username:
            client.username_pw_set(c.username, c.password or None)
        if c.tls:
            client.tls_set(
                ca_certs=c.ca_file or None, certfile=c.cert_file or None, keyfile=c.key_file or None
            )
        client.will_set(self.availability, OFFLINE, qos=1, retain=True)
        client.reconnect_delay_set(max(1, int(c.retry_min_s)), max(1, int(c.retry_max_s)))
        client.on_connect = self._connected
        client.on_disconnect = self._disconnected
        client.on_message = self._message
        return client

    # ------------------------------------------------------------ connection (paho's thread)
    def open(self) -> None:
        self.client.connect_async(self.config.host, self.config.port, self.config.keepalive_s)
        self.client.loop_start()

    def _connected(self, client, userdata, flags, reason, properties) -> None:
        if reason.is_failure:
            logger.error("sink mqtt: broker %s:%d refused: %s", self.config.host, self.config.port, reason)
            return
        logger.info("sink mqtt: connected to %s:%d", self.config.host, self.config.port)
        client.publish(self.availability, ONLINE, qos=1, retain=True)
        if self.config.discovery:
            client.subscribe(self.birth, qos=1)
            self._announce()
        self.connected.set()

    def _disconnected(self, client, userdata, flags, reason, properties) -> None:
        self.connected.clear()
        if reason.is_failure:
            logger.warning("sink mqtt: disconnected (%s); reconnecting", reason)

    def _message(self, client, userdata, message) -> None:
        if message.topic == self.birth and message.payload == ONLINE.encode():
            logger.info("sink mqtt: Home Assistant is online: discovery republished")
            self._announce()

    def _announce(self) -> None:
        for topic, config in discovery_configs(self.config, self.cameras, self.classes):
            self.client.publish(topic, json.dumps(config), qos=1, retain=True)

    # ------------------------------------------------------------ delivery (the sink's worker)
    def deliver(self, message: dict) -> None:
        # A moment's grace for a connection being made (at start, after a reconnect).
        if not self.connected.wait(min(self.timeout_s, 0.5)):
            raise DeliveryError(f"not connected to the broker at {self.config.host}:{self.config.port}")
        for topic, payload, retain in self.publications(message):
            self._publish_acknowledged(topic, payload, retain)

    def _publish_acknowledged(self, topic: str, payload: bytes | str, retain: bool) -> None:
        """Publish and wait for the broker's ack; a lost connection fails it at once."""
        info = self.client.publish(topic, payload, qos=self.config.qos, retain=retain)
        deadline = time.monotonic() + self.timeout_s
        try:
            while not info.is_published():
                if not self.connected.is_set():
                    raise DeliveryError(f"connection lost before the broker acknowledged {topic}")
                if time.monotonic() > deadline:
                    raise DeliveryError(f"the broker did not acknowledge {topic} within {self.timeout_s:g} s")
                info.wait_for_publish(0.05)
        except (RuntimeError, ValueError) as err:
            raise DeliveryError(f"publish to {topic} failed: {err}") from None

    def reachable(self) -> bool:
        return self.connected.is_set()

    def publications(self, message: dict) -> list[tuple[str, bytes | str, bool]]:
        """(topic, payload, retain) for one message, in the order they are published."""
        p = self.prefix
        if message["type"] == "reset":
            return [
                (f"{p}/{cam}/{cls}", "OFF", True) for cam in message["cameras"] for cls in message["classes"]
            ]
        state = f"{p}/{message['camera']}/{message['class']}"
        out: list[tuple[str, bytes | str, bool]] = [(f"{p}/events", json.dumps(message), False)]
        if message["type"] == "new":
            out.append((state, "ON", True))
            snapshot = self._snapshot(message)
            if snapshot is not None:
                out.append((f"{p}/{message['camera']}/snapshot", snapshot, True))
        elif message["type"] == "end":
            out.append((state, "OFF", True))
        return out

    def _snapshot(self, message: dict) -> bytes | None:
        if not (self.config.snapshots and message.get("snapshot")):
            return None
        try:
            return (self.alert_dir / message["snapshot"]).read_bytes()
        except OSError as err:  # deleted since: the event still goes out, without its picture
            logger.warning("sink mqtt: snapshot %s not sent: %s", message["snapshot"], err.strerror or err)
            return None

    def close(self) -> None:
        """`offline` said on purpose (the will is only for a death), then disconnect."""
        if self.client.is_connected():
            self.client.publish(self.availability, OFFLINE, qos=1, retain=True).wait_for_publish(1.0)
        self.client.disconnect()
        self.client.loop_stop()


def discovery_configs(config: MqttConfig, cameras: list[str], classes: list[str]) -> list[tuple[str, dict]]:
    """Home Assistant MQTT discovery: per camera, a device with a `safety` binary sensor per class
    (on while an event lasts) and a camera entity showing the latest alert snapshot."""
    p, node = config.topic_prefix, config.node_id
    available = {
        "availability_topic": f"{p}/available",
        "payload_available": ONLINE,
        "payload_not_available": OFFLINE,
    }
    out = []
    for camera in cameras:
        device = {
            "identifiers": [f"{node}_{camera}"],
            "name": f"Vigil {camera}",
            "manufacturer": "Vigil",
            "model": "explainable anomaly monitor",
        }
        for label in classes:
            out.append(
                (
                    f"{config.discovery_prefix}/binary_sensor/{node}/{camera}_{label}/config",
                    {
                        "name": label,
                        "unique_id": f"{node}_{camera}_{label}",
                        "state_topic": f"{p}/{camera}/{label}",
                        "payload_on": "ON",
                        "payload_off": "OFF",
                        "device_class": "safety",
                        "device": device,
                        **available,
                    },
                )
            )
        out.append(
            (
                f"{config.discovery_prefix}/camera/{node}/{camera}_snapshot/config",
                {
                    "name": "alert snapshot",
                    "unique_id": f"{node}_{camera}_snapshot",
                    "topic": f"{p}/{camera}/snapshot",
                    "device": device,
                    **available,
                },
            )
        )
    return out
