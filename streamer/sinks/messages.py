"""What sinks are sent: each alert-log line as an event message (`new` when an alert is raised,
`update` when its clip is written, `end` when its class has calmed down), and a `reset` when the
monitor starts (no event is open then). One format for every sink; (id, type) is unique, so a
receiver can drop the duplicates that at-least-once delivery may bring."""

from __future__ import annotations

EVENT_TYPES = {"alert": "new", "clip": "update", "end": "end"}


def event_message(line: dict) -> dict:
    """The log line as an event: its fields, with `type` new, update or end."""
    return {**line, "type": EVENT_TYPES[line["type"]]}


def reset_message(cameras: list[str], classes: list[str]) -> dict:
    """Every camera's every anomaly class is calm: no event survives a restart."""
    return {"type": "reset", "cameras": cameras, "classes": classes}


def message_key(message: dict) -> str:
    """The de-duplication key a receiver sees (also the webhook's X-Vigil-Message-Id)."""
    return f"{message['id']}/{message['type']}" if "id" in message else message["type"]
