"""The web console's static files at ``/_openkms/console/`` (``serve --console``; on with --dev).

The console is four hand-written files (``console_static/``: HTML, CSS, one script, an
icon; no build step, nothing from another origin). The browser holds the caller's access key pair
(in ``sessionStorage``, gone with the tab) and signs every call with SigV4 itself, so the
console reaches the KMS, CloudTrail and STS APIs on ``POST /`` exactly as any SDK does and
can do nothing its caller could not: the server keeps no console session, no secret and
no power of its own for it. The console's two calls that no AWS API has (``authz
explain``, the audit chain's verification) are :mod:`openkms.server.console_api`.

The files are read once when the server starts and answered from memory, on the event
loop. Every answer carries a Content-Security-Policy that allows scripts, styles and
connections from this origin only (no inline script or style, no ``eval``, no frames,
no form posts), so that a value shown on a page (a key's description, an alias, a tag,
an audit record: all caller-chosen) cannot run as code even if it reached the page as
markup; the script inserts such values as text anyway. With the console off, every
path under it is 404, as any unknown path is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from importlib import resources
from typing import Any

CONSOLE_PATH = "/_openkms/console"

#: The files served, by name (the directory's index is ``index.html``), with their type.
FILES = {
    "index.html": b"text/html; charset=utf-8",
    "console.js": b"text/javascript; charset=utf-8",
    "console.css": b"text/css; charset=utf-8",
    "favicon.svg": b"image/svg+xml",
}

CONTENT_SECURITY_POLICY = (
    b"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    b"img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]
_NOT_FOUND = b'{"__type":"NotFound","message":"Not found"}'

Scope = MutableMapping[str, Any]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def is_console_path(path: str) -> bool:
    return path == CONSOLE_PATH or path.startswith(CONSOLE_PATH + "/")


class ConsoleFiles:
    """The console's files, loaded once (``enabled`` False: none, every path 404)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._files: dict[str, bytes] = {}
        if enabled:
            folder = resources.files("openkms.server").joinpath("console_static")
            self._files = {name: folder.joinpath(name).read_bytes() for name in FILES}

    def answer(self, method: str, path: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Status, headers and body for a request under :data:`CONSOLE_PATH`."""
        if not self.enabled:
            return 404, [(b"content-type", b"application/json")], _NOT_FOUND
        if path == CONSOLE_PATH:  # a relative link from the page needs the trailing slash
            return 308, [(b"location", (CONSOLE_PATH + "/").encode())], b""
        name = path[len(CONSOLE_PATH) + 1 :] or "index.html"
        body = self._files.get(name)
        if body is None:
            return 404, [(b"content-type", b"application/json")], _NOT_FOUND
        if method not in ("GET", "HEAD"):
            return 405, [(b"allow", b"GET, HEAD"), *SECURITY_HEADERS], b""
        return 200, [(b"content-type", FILES[name]), *SECURITY_HEADERS], body

    async def send(self, scope: Scope, send: Send) -> None:
        """Answer on the event loop (from memory); a HEAD gets the headers alone."""
        status, headers, body = self.answer(scope["method"], scope["path"])
        headers = [*headers, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )
