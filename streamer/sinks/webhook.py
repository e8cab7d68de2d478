"""Webhooks: each message is POSTed as JSON (or multipart with the snapshot), signed with
HMAC-SHA256 over the exact body bytes, so the receiver can check it came from this monitor.

Headers: `X-Vigil-Signature: sha256=<hex>`, `X-Vigil-Message-Id: <alert id>/<type>` (for
de-duplication), `X-Vigil-Event: new|update|end`. Any 2xx is an acknowledgement; anything else, a
timeout or a refused connection is retried."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from streamer.config import WebhookConfig
from streamer.redact import redact_url
from streamer.sinks.delivery import DeliveryError
from streamer.sinks.messages import message_key

logger = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Vigil-Signature"


def signature(secret: str, body: bytes) -> str:
    """The signature header's value; a receiver compares it with hmac.compare_digest."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def multipart(event: bytes, snapshot: bytes, snapshot_name: str) -> tuple[bytes, str]:
    """(body, content type) of a form with the event JSON and the snapshot JPEG."""
    boundary = "vigil-" + secrets.token_hex(12)
    parts = [
        (b'Content-Disposition: form-data; name="event"\r\nContent-Type: application/json', event),
        (
            f'Content-Disposition: form-data; name="snapshot"; filename="{snapshot_name}"\r\n'
            "Content-Type: image/jpeg".encode(),
            snapshot,
        ),
    ]
    body = b"".join(
        b"--" + boundary.encode() + b"\r\n" + head + b"\r\n\r\n" + data + b"\r\n" for head, data in parts
    )
    return body + b"--" + boundary.encode() + b"--\r\n", f"multipart/form-data; boundary={boundary}"


def split_credentials(url: str) -> tuple[str, dict[str, str]]:
    """(the URL without user-info, an Authorization header for it): urllib sends no basic auth
    from a URL itself."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return url, {}
    host = parts.hostname or ""
    netloc = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port else "")
    user = urllib.parse.unquote(parts.username)
    password = urllib.parse.unquote(parts.password or "")
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc)), {"Authorization": f"Basic {token}"}


class WebhookSink:
    keeps_state = False  # an endpoint is told events only

    def __init__(self, config: WebhookConfig, alert_dir: Path):
        self.config, self.alert_dir = config, alert_dir
        self.name, self.timeout_s = config.name, config.timeout_s
        self.url, self.auth = split_credentials(config.url)
        self.where = redact_url(config.url)  # the only form of the URL a log line may hold

    def open(self) -> None:
        """Nothing to hold open: each message is its own request."""

    def deliver(self, message: dict) -> None:
        body, content_type = self.body(message)
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": content_type,
                SIGNATURE_HEADER: signature(self.config.secret, body),
                "X-Vigil-Message-Id": message_key(message),
                "X-Vigil-Event": message["type"],
                "User-Agent": "vigil",
                **self.auth,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read()
        except urllib.error.HTTPError as err:
            raise DeliveryError(f"{self.where} answered {err.code} {err.reason}") from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise DeliveryError(f"{self.where}: {redact_url(str(reason))}") from None

    def reachable(self) -> None:
        """Unknown between requests."""
        return None

    def body(self, message: dict) -> tuple[bytes, str]:
        event = json.dumps(message, separators=(",", ":")).encode()
        name = message.get("snapshot") if message["type"] == "new" else None
        if self.config.snapshot and name:
            try:
                return multipart(event, (self.alert_dir / name).read_bytes(), name)
            except OSError as err:
                logger.warning("sink %s: snapshot %s not sent: %s", self.name, name, err.strerror or err)
        return event, "application/json"

    def close(self) -> None:
        """Nothing held open."""
