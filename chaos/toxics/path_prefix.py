"""path_prefix: the proxy serves its upstream under a path prefix and strips it on the way in.

This is what a reverse proxy in front of an app does when it mounts the app at a
sub-path: nginx's `location /visdom/ { proxy_pass http://127.0.0.1:8097/; }` (the
trailing slash replaces the matched prefix) or Jupyter's server-proxy
(`/proxy/8097/...` reaches the app as `/...`). The app never sees the prefix, so a
page that builds absolute URLs (`/static/...`, `/socket`) from its own view of the
path asks for them outside the prefix, where this proxy, like nginx with only that
`location`, answers `status` (404). `prefix` alone, without its slash, is redirected
to `prefix/` (301), as nginx does for a location ending in a slash.
"""

from __future__ import annotations

from ..httpstream import HttpHead
from .message import HttpToxic
from .verdict import PASS, Answer, Fault, RequestVerdict, Rewrite

REASONS = {404: "Not Found", 403: "Forbidden", 502: "Bad Gateway", 301: "Moved Permanently"}


def strip_prefix(target: str, prefix: str) -> str | None:
    """`target` (a request target, query included) with `prefix` stripped, or None if it lies
    outside. `prefix` is normalised ("/visdom", no trailing slash); "" strips nothing.

    >>> strip_prefix("/visdom/env/main?x=1", "/visdom")
    '/env/main?x=1'
    >>> strip_prefix("/visdom/", "/visdom"), strip_prefix("/visdomx/", "/visdom")
    ('/', None)
    """
    if not prefix:
        return target
    if not target.startswith(prefix):
        return None
    rest = target[len(prefix) :]
    if rest.startswith("/"):
        return rest
    return None  # "/visdomx", or "/visdom" itself, or "/visdom?q" (redirected, see bare_prefix)


def bare_prefix(target: str, prefix: str) -> bool:
    """The prefix itself without its slash (`/visdom`, `/visdom?x`): nginx redirects it."""
    return bool(prefix) and target.split("?", 1)[0] == prefix


def rewrite_target(raw: bytes, target: str) -> bytes:
    """The request head `raw` with its request target replaced (the rest byte for byte)."""
    line_end = raw.index(b"\r\n")
    method, _, rest = raw[:line_end].partition(b" ")
    _, _, version = rest.rpartition(b" ")
    return method + b" " + target.encode("latin-1") + b" " + version + raw[line_end:]


def response(status: int, toxic: str, location: str | None = None) -> bytes:
    body = f"{status} {REASONS.get(status, 'Chaos')}: outside the proxy's path prefix\n".encode()
    head = f"HTTP/1.1 {status} {REASONS.get(status, 'Chaos')}\r\n"
    if location is not None:
        head += f"Location: {location}\r\n"
    head += (
        f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
        f"X-Chaos-Toxic: {toxic}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class PathPrefix(HttpToxic):
    def judge_request(self, head: HttpHead) -> RequestVerdict:
        target, prefix = head.path, self.a["prefix"]
        if not prefix:
            return PASS
        stripped = strip_prefix(target, prefix)
        if stripped is not None:
            fault = Fault("path_prefix", {"method": head.method, "path": target, "to": stripped})
            return Rewrite(rewrite_target(head.raw, stripped), fault)
        if bare_prefix(target, prefix):
            query = target[len(prefix) :]
            fault = Fault("path_prefix", {"method": head.method, "path": target, "status": 301})
            return Answer(
                response(301, self.spec.name, prefix + "/" + query), head.content_length or 0, fault
            )
        status = self.a["status"]
        fault = Fault("path_prefix", {"method": head.method, "path": target, "status": status})
        return Answer(response(status, self.spec.name), head.content_length or 0, fault)
