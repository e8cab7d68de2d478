"""sd_notify without a dependency: one datagram to $NOTIFY_SOCKET (READY=1, WATCHDOG=1, ...)."""

from __future__ import annotations

import os
import socket


def notify(message: str) -> bool:
    """Send a state line to systemd; False (and nothing else) when not run as a notify service."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # abstract namespace socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
        return True
    except OSError:
        return False
