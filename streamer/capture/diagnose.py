"""Why a network camera would not open: the host's name, the connection, or the server's own answer
(401, 404), found by asking the server directly, once, in plain words. FFmpeg knows too, but says it
in its own lines, repeated on every retry and sometimes with the URL and its password."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import unquote

DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}
_STATUS = re.compile(r"^(?:RTSP|HTTP)/\d(?:\.\d)?\s+(\d{3})\s*(.*)$")


class ProtocolError(Exception):
    """The server answered, but not in RTSP or HTTP."""


@dataclass(frozen=True)
class Endpoint:
    """A camera URL taken apart; the password never leaves this object except into a request."""

    scheme: str
    host: str
    port: int
    request_uri: str  # the URL without its user-info: what goes on the request line
    user: str | None = None
    password: str | None = None

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def parse_endpoint(url: str) -> Endpoint:
    """Split a camera URL. User-info runs to the last '@' before the host (as in redact.py), so a
    password holding an unencoded '@' or '#' is still taken apart the way the redaction saw it."""
    scheme, rest = url.split("://", 1)
    scheme = scheme.lower()
    user = password = None
    authority_end = rest.find("/", rest.rfind("@") + 1)
    authority = rest if authority_end < 0 else rest[:authority_end]
    path = "/" if authority_end < 0 else rest[authority_end:]
    if "@" in authority:
        userinfo, authority = authority.rsplit("@", 1)
        name, _, secret = userinfo.partition(":")
        user, password = unquote(name), unquote(secret)
    if authority.startswith("["):  # [IPv6]:port
        host, _, port_text = authority[1:].partition("]")
        port_text = port_text.lstrip(":")
    else:
        host, _, port_text = authority.partition(":")
    port = int(port_text) if port_text.isdigit() else DEFAULT_PORTS.get(scheme, 554)
    shown_host = f"[{host}]" if ":" in host else host
    return Endpoint(scheme, host, port, f"{scheme}://{shown_host}:{port}{path}", user, password)


def _digest(endpoint: Endpoint, method: str, challenge: str) -> str:
    """RFC 2617 Digest response (MD5, with or without qop=auth): what cameras and GStreamer ask."""
    fields = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge))
    realm, nonce, qop = fields.get("realm", ""), fields.get("nonce", ""), fields.get("qop", "")

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    ha1 = md5(f"{endpoint.user}:{realm}:{endpoint.password}")
    ha2 = md5(f"{method}:{endpoint.request_uri}")
    header = (
        f'Digest username="{endpoint.user}", realm="{realm}", nonce="{nonce}", uri="{endpoint.request_uri}"'
    )
    if "auth" in qop.split(","):
        cnonce, count = os.urandom(8).hex(), "00000001"
        response = md5(f"{ha1}:{nonce}:{count}:{cnonce}:auth:{ha2}")
        return header + f', qop=auth, nc={count}, cnonce="{cnonce}", response="{response}"'
    return header + f', response="{md5(f"{ha1}:{nonce}:{ha2}")}"'


def _authorization(endpoint: Endpoint, method: str, challenge: str | None) -> str | None:
    if endpoint.user is None:
        return None
    if challenge and challenge.lower().startswith("digest"):
        return _digest(endpoint, method, challenge)
    token = base64.b64encode(f"{endpoint.user}:{endpoint.password or ''}".encode()).decode()
    return f"Basic {token}"


def _ask(endpoint: Endpoint, timeout: float, authorization: str | None) -> tuple[int, str, dict[str, str]]:
    """One request (RTSP DESCRIBE or HTTP GET): (status, reason, headers). OSError as it comes."""
    method = "DESCRIBE" if endpoint.scheme.startswith("rtsp") else "GET"
    protocol = "RTSP/1.0" if method == "DESCRIBE" else "HTTP/1.0"
    lines = [
        f"{method} {endpoint.request_uri} {protocol}",
        "CSeq: 1",
        "User-Agent: vigil-diagnose",
        "Accept: application/sdp" if method == "DESCRIBE" else f"Host: {endpoint.host}",
    ]
    if authorization:
        lines.append(f"Authorization: {authorization}")
    with socket.create_connection((endpoint.host, endpoint.port), timeout=timeout) as raw:
        conn = raw
        if endpoint.scheme in ("rtsps", "https"):  # cameras use self-signed certificates: only asking
            context = ssl.create_default_context()
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            conn = context.wrap_socket(raw, server_hostname=endpoint.host)
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    match = _STATUS.match(head[0]) if head else None
    if not match:
        raise ProtocolError("its answer is not RTSP or HTTP")
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), value.strip())
    return int(match.group(1)), match.group(2), headers


def diagnose(url: str, timeout: float) -> str:
    """A short reason why `url` would not open; never contains the credentials."""
    endpoint = parse_endpoint(url)
    try:
        socket.getaddrinfo(endpoint.host, endpoint.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return f"cannot resolve host name '{endpoint.host}'"
    try:
        status, reason, headers = _ask(
            endpoint, timeout, _authorization(endpoint, "", None) if endpoint.user is not None else None
        )
        if status == 401 and endpoint.user is not None and "www-authenticate" in headers:
            method = "DESCRIBE" if endpoint.scheme.startswith("rtsp") else "GET"
            status, reason, headers = _ask(
                endpoint, timeout, _authorization(endpoint, method, headers["www-authenticate"])
            )
    except ConnectionRefusedError:
        return f"connection refused by {endpoint.where} (nothing listening on that port?)"
    except TimeoutError:
        return f"no answer from {endpoint.where} within {timeout:g} s"
    except ProtocolError as err:
        return f"{endpoint.where} answered, but {err}"
    except ssl.SSLError as err:
        return f"TLS handshake with {endpoint.where} failed ({err.reason})"
    except OSError as err:
        return f"cannot reach {endpoint.where} ({err.strerror or err})"
    if status == 401:
        return (
            "401 Unauthorized: wrong user name or password"
            if endpoint.user is not None
            else "401 Unauthorized: the camera wants a user name and password"
        )
    if status == 404:
        return "404 Not Found: no stream at that path"
    if 200 <= status < 300:
        return f"the server answered {status} {reason}, but the stream could not be decoded"
    return f"the server answered {status} {reason}".strip()
