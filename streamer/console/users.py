"""The console's users: one line each, `name:role:scrypt$n$r$p$salt$hash`, in a file the service
user owns. Passwords are hashed with the standard library's scrypt; the parameters travel with
each hash, so they can be raised later without invalidating old lines."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

ROLES = ("viewer", "reviewer", "admin")  # each may do what the ones before it may
USER_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# N=2^15, r=8: 32 MiB and about 0.1 s a hash here (measured on this 2-core AMD EPYC): slow for a
# guessing attacker with a stolen file, quick enough for a login.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
MIN_PASSWORD = 10


class UserError(Exception):
    """A users file or a user that cannot be used: says which line or name and why."""


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=32)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    encode = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${encode(salt)}${encode(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        computed = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
        return hmac.compare_digest(computed, base64.b64decode(digest))
    except (ValueError, TypeError):
        return False


# What a login against a name that does not exist is checked against: the same work, so the time
# a failed login takes does not tell whether the name exists.
DUMMY_HASH = hash_password(secrets.token_hex(16))


@dataclass(frozen=True)
class User:
    name: str
    role: str
    password_hash: str

    def may(self, role: str) -> bool:
        """Whether this user has `role` or a stronger one."""
        return ROLES.index(self.role) >= ROLES.index(role)


def read_users(path: Path) -> dict[str, User]:
    """The users of a file; a wrong line is a UserError naming its number (never its hash)."""
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise UserError(f"{path}: cannot read the users file ({err.strerror or err})") from None
    users: dict[str, User] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.strip().split(":")
        if len(parts) != 3 or not parts[2].startswith("scrypt$"):
            raise UserError(f"{path}:{number}: expected name:role:scrypt$..., got {len(parts)} fields")
        name, role, stored = parts
        if not USER_NAME.match(name):
            raise UserError(f"{path}:{number}: expected a user name of letters, digits, '_.-', got {name!r}")
        if role not in ROLES:
            raise UserError(f"{path}:{number}: expected a role from {list(ROLES)}, got {role!r}")
        users[name] = User(name, role, stored)
    return users


def write_users(path: Path, users: dict[str, User]) -> None:
    """Whole or not at all, readable by its owner alone."""
    path = Path(path)
    lines = ["# Vigil console users: name:role:scrypt hash. Edit with `vigil users`."]
    lines += [f"{u.name}:{u.role}:{u.password_hash}" for u in sorted(users.values(), key=lambda u: u.name)]
    part = path.with_name(path.name + ".tmp")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(part, path)


def set_user(path: Path, name: str, role: str, password: str) -> None:
    """Add a user or change one's role and password."""
    if not USER_NAME.match(name):
        raise UserError(f"user name: expected letters, digits, '_.-' (1-64), got {name!r}")
    if role not in ROLES:
        raise UserError(f"role: expected one of {list(ROLES)}, got {role!r}")
    if len(password) < MIN_PASSWORD:
        raise UserError(f"password: expected at least {MIN_PASSWORD} characters, got {len(password)}")
    users = read_users(path) if Path(path).exists() else {}
    users[name] = User(name, role, hash_password(password))
    write_users(path, users)


def remove_user(path: Path, name: str) -> None:
    users = read_users(path)
    if name not in users:
        raise UserError(f"{path}: no user {name!r}")
    del users[name]
    write_users(path, users)
