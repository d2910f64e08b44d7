"""Requests and answers of the page, without a web framework: what the server's handler hands in
and gets back, the cookies, and the headers every answer carries.

Security headers (docs/web.md): a Content-Security-Policy that allows scripts, styles, images and
scripts' requests (the share page's search) from the page's own server only (no inline script),
``X-Frame-Options: DENY`` and
``frame-ancestors 'none'`` (no framing, RFC 7034), ``Referrer-Policy: no-referrer``,
``X-Content-Type-Options: nosniff``; pages are never cached (``Cache-Control: no-store``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from http import client
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs, urlencode

from ..base.errors import ExtError

PREFIX = "/.my"              # user names never start with ".", so no home or collection is ever here
MAX_FORM_BYTES = 64 * 1024   # the largest form body the page reads
MAX_FORM_FIELDS = 100

SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def is_page_path(path: str) -> bool:
    """Is ``path`` (as Radicale hands it, without the base prefix) one of the page's?"""
    return path == PREFIX or path.startswith(PREFIX + "/")


class FormTooLarge(ExtError):
    status = 413


@dataclass(frozen=True)
class Request:
    method: str                  # GET, HEAD or POST
    path: str                    # below the prefix: "/", "/login", "/calendars/delete"
    root: str                    # where the page is: the base prefix and PREFIX ("/.my")
    query: dict[str, list[str]] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)
    accept_language: str = ""
    content_type: str = ""
    body: bytes = b""
    address: str = ""            # the client's network address
    secure: bool = False         # it came over TLS (or to the https:// host of [sharing] links_base_url)
    links_base_url: str = ""     # where share links' addresses start: [sharing] links_base_url, else this server

    @classmethod
    def parse_cookies(cls, header: str) -> dict[str, str]:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(header)
        except CookieError:
            return {}
        return {name: morsel.value for name, morsel in jar.items()}

    @classmethod
    def parse_query(cls, query: str) -> dict[str, list[str]]:
        try:
            return parse_qs(query, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
        except ValueError:
            return {}

    def arg(self, name: str, default: str = "") -> str:
        return self.query.get(name, [default])[0]

    def form(self) -> dict[str, str]:
        """The posted form (``application/x-www-form-urlencoded``, UTF-8), first value of each field."""
        if len(self.body) > MAX_FORM_BYTES:
            raise FormTooLarge(f"the form is larger than {MAX_FORM_BYTES // 1024} KiB")
        if self.body and not self.content_type.startswith("application/x-www-form-urlencoded"):
            raise ExtError("the page takes forms only (application/x-www-form-urlencoded)")
        try:
            fields = parse_qs(self.body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS,
                              strict_parsing=False)
        except (UnicodeDecodeError, ValueError):
            raise ExtError("the form is not UTF-8 text or has too many fields") from None
        return {name: values[0] for name, values in fields.items()}

    def url(self, path: str = "/", **query: str) -> str:
        """The address of another of the page's paths, e.g. ``url("/", done="created")``."""
        return f"{self.root}{path}" + (f"?{urlencode(query)}" if query else "")


@dataclass(frozen=True)
class Cookie:
    name: str
    value: str
    max_age: int | None = None   # seconds; None: until the browser closes; 0: removes it

    def header(self, request: Request) -> str:
        """``Set-Cookie``: only for the page's own path, never for scripts (HttpOnly), never sent along
        from another site (SameSite=Strict), and over TLS only when the page is (Secure)."""
        parts = [f"{self.name}={self.value}", f"Path={request.root}/", "HttpOnly", "SameSite=Strict"]
        if self.max_age is not None:
            parts.append(f"Max-Age={self.max_age}")
        if request.secure:
            parts.append("Secure")
        return "; ".join(parts)


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    cookie: Cookie | None = None   # at most one per answer: Radicale's answers keep one header of each name

    def rendered(self, request: Request) -> tuple[int, dict[str, str]]:
        """The status and every header of the answer to ``request``."""
        headers = {**SECURITY_HEADERS, "Content-Type": self.content_type, "Cache-Control": "no-store",
                   **self.headers}
        if self.cookie is not None:
            headers["Set-Cookie"] = self.cookie.header(request)
        return self.status, headers


def redirect(location: str, cookie: Cookie | None = None) -> Response:
    """303 See Other: after a form, the browser asks for the next page with GET."""
    return Response(client.SEE_OTHER, f"See {location}\n".encode(), "text/plain; charset=utf-8",
                    {"Location": location}, cookie)
