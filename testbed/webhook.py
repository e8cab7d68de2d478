"""A real HTTP endpoint on 127.0.0.1 that records every POST it takes, for the webhook tests and the
delivery benchmark; it can answer 503s or too slowly, and be stopped and started on its port."""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from testbed.rtsp import free_port


class Endpoint:
    """An HTTP server that records each POST; `script` says how to answer the next requests
    ('ok', 'fail' for a 503, 'slow' for longer than the sink's timeout)."""

    def __init__(self, port: int | None = None, script: list[str] | None = None):
        self.port, self.script = port or free_port(), list(script or [])
        self.received: list[dict] = []
        self.attempts = 0
        self.server = None

    def start(self) -> Endpoint:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                endpoint.attempts += 1
                answer = endpoint.script.pop(0) if endpoint.script else "ok"
                if answer == "slow":
                    time.sleep(1.0)
                if answer == "fail":
                    self.send_response(503)
                    self.end_headers()
                    return
                endpoint.received.append({"headers": dict(self.headers), "body": body, "at": time.time()})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def events(self) -> list[dict]:
        """The event of each request taken, in order, whether plain JSON or multipart."""
        return [json.loads(form_parts(r)["event"].get_content()) for r in self.received]


def form_parts(request: dict) -> dict:
    """A recorded request's parts by name: 'event' (and 'snapshot' when multipart)."""
    content_type = request["headers"]["Content-Type"]
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + request["body"]
    )
    if not message.is_multipart():
        return {"event": message}
    return {part.get_param("name", header="content-disposition"): part for part in message.iter_parts()}
