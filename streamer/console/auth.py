"""Who is logged in: server-side sessions behind a random cookie, a CSRF token per session, the
users file re-read when it changes (a removed user is out at the next request), and login
throttling per user name and per client address."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path

from streamer.console.users import DUMMY_HASH, User, UserError, read_users, verify_password


class UserStore:
    """The users file, read again when its modification time or size changes."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[float, int] | None = None
        self._users: dict[str, User] = {}

    def users(self) -> dict[str, User]:
        """Raises UserError when the file is unreadable or wrong (the last good copy is not kept:
        a broken file must lock everyone out rather than keep a removed user in)."""
        with self._lock:
            try:
                stat = self.path.stat()
            except OSError as err:
                raise UserError(f"{self.path}: cannot read the users file ({err.strerror or err})") from None
            stamp = (stat.st_mtime, stat.st_size)
            if stamp != self._stamp:
                self._users, self._stamp = read_users(self.path), stamp
            return self._users

    def check(self, name: str, password: str) -> User | None:
        user = self.users().get(name)
        # A name that does not exist costs the same hash: the time does not tell names apart.
        ok = verify_password(password, user.password_hash if user else DUMMY_HASH)
        return user if ok and user is not None else None


@dataclass
class Session:
    token: str
    name: str
    csrf: str
    last_seen: float


class Sessions:
    """In memory: a restart logs everyone out, which is what a restart of the monitor should do."""

    def __init__(self, idle_s: float):
        self.idle_s = idle_s
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}

    def open(self, name: str, now: float) -> Session:
        session = Session(secrets.token_urlsafe(32), name, secrets.token_urlsafe(32), now)
        with self._lock:
            self._sessions = {t: s for t, s in self._sessions.items() if now - s.last_seen < self.idle_s}
            self._sessions[session.token] = session
        return session

    def get(self, token: str | None, now: float) -> Session | None:
        with self._lock:
            session = self._sessions.get(token or "")
            if session is None:
                return None
            if now - session.last_seen >= self.idle_s:
                del self._sessions[session.token]
                return None
            session.last_seen = now
            return session

    def close(self, token: str) -> None:
        with self._lock:
            self._sessions.pop(token, None)


# An address may fail this many times more than a name before it is locked out: behind a reverse
# proxy every user shares one address, and one user's typos must not lock the others out; a
# spray of guesses over many names from one address is still stopped.
ADDRESS_FACTOR = 10


@dataclass
class LoginThrottle:
    """`attempts` failed logins for one name (ADDRESS_FACTOR times as many from one address) lock
    that name (address) out for `lockout_s`, even with the right password: a guessing attacker
    learns nothing."""

    attempts: int
    lockout_s: float
    _failures: dict[str, list[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def locked_for(self, keys: list[str], now: float) -> float:
        """Seconds until the first of `keys` may try again; 0 when none is locked."""
        with self._lock:
            waits = []
            for key in keys:
                limit = self.attempts * (ADDRESS_FACTOR if key.startswith("address:") else 1)
                recent = [t for t in self._failures.get(key, []) if now - t < self.lockout_s]
                self._failures[key] = recent
                if len(recent) >= limit:
                    waits.append(self.lockout_s - (now - recent[-limit]))
            return max(waits, default=0.0)

    def failed(self, keys: list[str], now: float) -> None:
        with self._lock:
            for key in keys:
                self._failures.setdefault(key, []).append(now)

    def succeeded(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)
