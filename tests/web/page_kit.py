"""Speaking to the web page over HTTP as a browser does (forms, cookies), for tests without a browser."""

from __future__ import annotations

import html
import re

import requests

from ..server import Server, loopback_session, password

PAGE = "/.my"
_CSRF = re.compile(r'name="csrf" value="([^"]*)"')


def csrf_of(text: str) -> str:
    found = _CSRF.search(text)
    assert found, "the page has no form with a CSRF token"
    return html.unescape(found.group(1))


class Browser:
    """One person's browser: its own cookies, forms posted with the token the page gave."""

    def __init__(self, server: Server, language: str = "en") -> None:
        self.server = server
        self.session = loopback_session()
        self.session.headers["Accept-Language"] = language
        self.token = ""

    def get(self, path: str, **kwargs) -> requests.Response:
        r = self.session.get(self.server.url + PAGE + path, allow_redirects=False, timeout=30, **kwargs)
        if r.status_code == 200 and 'name="csrf"' in r.text:
            self.token = csrf_of(r.text)
        return r

    def post(self, path: str, data: dict[str, str], *, token: str | None = None) -> requests.Response:
        """POST a form; ``token`` None: the one the last page gave, "": none at all."""
        fields = dict(data)
        chosen = self.token if token is None else token
        if chosen:
            fields["csrf"] = chosen
        return self.session.post(self.server.url + PAGE + path, data=fields, allow_redirects=False, timeout=30)

    def log_in(self, user: str, secret: str | None = None) -> requests.Response:
        self.get("/login")
        return self.post("/login", {"user": user, "password": secret if secret is not None else password(user),
                                    "next": "/"})

    def logged_in(self, user: str) -> Browser:
        r = self.log_in(user)
        assert r.status_code == 303, (r.status_code, r.text[:300])
        assert self.get("/").status_code == 200
        return self

    def create(self, name: str, kind: str = "calendar", colour: str = "#3a86ff") -> requests.Response:
        self.get("/")
        return self.post("/calendars/create", {"name": name, "kind": kind, "colour": colour})
