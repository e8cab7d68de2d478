"""Strip credentials from camera URLs before they reach logs, metrics, files or window titles."""

from __future__ import annotations

import re

# scheme://user:pass@host -> scheme://***@host. Greedy up to the last '@' of the URL: a password
# holding '@', '#' or '/' unencoded must not leave a part of itself behind (over-redacting a path
# with an '@' in it is harmless; leaking half a password is not).
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^\s'\"<>]*@")
# ...?user=x&password=y style query credentials, used by some camera vendors
_QUERY_SECRET = re.compile(
    r"(?i)([?&;](?:user(?:name)?|pass(?:wd|word)?|pwd|secret|token|access_token|auth|key|api_?key|sig(?:nature)?)=)"
    r"[^&;\s'\"]*"
)


def redact_url(text: str) -> str:
    """The text with any URL user-info and credential-like query values replaced by ***."""
    text = _USERINFO.sub(r"\g<scheme>***@", text)
    return _QUERY_SECRET.sub(r"\1***", text)
