"""The self-service web page (:mod:`radicale_ext.web`), mounted in the server at ``/.my/``.

- ``GET /`` (and HEAD) leads to the page (303): a browser opening the server's
  address lands on it.  Every other method on ``/`` (PROPFIND, OPTIONS...) is
  Radicale's, as before, so DAV clients see no change.
- GET, HEAD and POST under ``/.my/`` are the page's; every other method there
  gets 405, so nothing under it reaches Radicale.  (User names never start with
  ".", so ``/.my/`` is never a home or a collection.)
- The page logs people in with a form and a session cookie; it ignores Basic
  credentials (DAV keeps them, unchanged).  It checks a password with the
  server's own auth plugin (the same htpasswd/bcrypt check, login cache and
  ``[auth]`` options as every DAV request) and writes collections through
  Radicale's storage (:class:`StorageWriter`), so a change made on the page is
  the server's own write: recorded in the outbox, seen at once by the item
  index, sync tokens and every DAV client.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from radicale import Application, httputils, pathutils, storage, types
from radicale.app import base as app_base
from radicale.auth import AuthContext

from radicale_ext.base.errors import Conflict, NotFound
from radicale_ext.base.names import shown
from radicale_ext.site import Site
from radicale_ext.web.http import MAX_FORM_BYTES, PREFIX, Request, is_page_path

from .._site import site_for
from ..hook import notice_settings
from ..routes import route
from .links import links_base_url

if TYPE_CHECKING:
    from radicale_ext.web.app import WebPage

ALLOWED = "GET, HEAD, POST"
_OTHER_METHODS = ("PUT", "DELETE", "PROPFIND", "PROPPATCH", "REPORT", "MKCOL", "MKCALENDAR", "MOVE", "OPTIONS")
_pages: dict[Site, WebPage] = {}
_pages_lock = threading.Lock()


class StorageWriter:
    """:class:`radicale_ext.homes.home.CollectionWriter` through Radicale's storage, under its write lock,
    as MKCALENDAR, PROPPATCH and DELETE write (the storage plugin records each in the outbox)."""

    def __init__(self, store: storage.BaseStorage) -> None:
        self._storage = store

    def _found(self, path: str) -> storage.BaseCollection:
        found = next(iter(self._storage.discover(path)), None)
        if not isinstance(found, storage.BaseCollection) or not found.tag:
            raise NotFound(f"no calendar or address book at {shown(path.strip('/'))}")
        return found

    def create(self, path: str, props: Mapping[str, str], actor: str) -> None:
        with self._storage.acquire_lock("w", actor, actor=actor):
            if next(iter(self._storage.discover(path)), None) is not None:
                raise Conflict(f"{shown(path.strip('/'))} already exists; nothing changed")
            self._storage.create_collection(path, props=dict(props))

    def change_properties(self, path: str, changes: Mapping[str, str | None], actor: str) -> None:
        with self._storage.acquire_lock("w", actor, actor=actor):
            found = self._found(path)
            props = dict(found.get_meta())
            for key, value in changes.items():
                if value is None:
                    props.pop(key, None)
                else:
                    props[key] = value
            found.set_meta(props)

    def delete(self, path: str, actor: str) -> None:
        with self._storage.acquire_lock("w", actor, actor=actor):
            self._found(path).delete()


def _password_check(app: Application):
    def check(login: str, password: str, address: str) -> str:
        if not app_base._check_user_format(app._storage, login, app._validate_user_value,
                                           app._urldecode_username):
            return ""
        context = AuthContext()
        context.remote_addr = address
        user, _info, _groups = app._auth.login(login, password, context) or ("", "", set())
        return user if user and pathutils.is_safe_path_component(user) else ""
    return check


def _page(app: Application) -> WebPage:
    """One page (its sessions and login throttles) per server.  The page's modules (templates, Babel, QR
    codes, the cipher of addresses shown once) are imported here, on its first request, not with the server:
    a process that shows no page does not hold them (docs/performance.md, "Memory")."""
    from radicale_ext.web.app import WebPage

    site = site_for(app.configuration)
    with _pages_lock:
        found = _pages.get(site)
        if found is None:
            found = WebPage(site, check_password=_password_check(app), writer=StorageWriter(app._storage),
                            notice_settings=notice_settings(app.configuration))
            _pages[site] = found
    return found


def came_over_tls(app: Application, environ: types.WSGIEnviron) -> bool:
    """Whether the browser reached the page over TLS (its cookies are then ``Secure``): the request
    came to this server over TLS, or it was sent to the host of ``[sharing] links_base_url`` when that
    address is ``https://`` (the server's address as people use it, behind a TLS proxy that passes the
    ``Host`` on, as docs/admin.md's nginx does; our waitress believes no ``X-Forwarded-Proto``).  A
    ``Host`` named falsely can only make the cookies stricter, never looser."""
    if environ.get("wsgi.url_scheme") == "https" or environ.get("HTTPS", "").lower() in ("on", "1"):
        return True
    try:
        public = urlsplit(str(app.configuration.get("sharing", "links_base_url") or ""))
    except KeyError:
        return False
    host = (environ.get("HTTP_HOST") or "").strip().lower()
    return public.scheme == "https" and bool(host) and host in (public.netloc.lower(), f"{public.netloc.lower()}:443")


def _body(environ: types.WSGIEnviron) -> bytes | None:
    """The form body; None when it is larger than the page reads."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if length > MAX_FORM_BYTES:
        return None
    return environ["wsgi.input"].read(length) if length > 0 else b""


@route("GET")
@route("HEAD")
@route("POST")
def serve_page(app: Application, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str,
               user_groups: set, request_info: dict) -> types.WSGIResponse | None:
    method = environ["REQUEST_METHOD"].upper()
    if path == "/" and method in ("GET", "HEAD"):
        return httputils.redirect(base_prefix + PREFIX + "/", 303)
    if not is_page_path(path):
        return None
    body = _body(environ) if method == "POST" else b""
    if body is None:
        return (413, {"Content-Type": "text/plain; charset=utf-8"},
                f"the page takes forms of at most {MAX_FORM_BYTES} bytes\n", None)
    request = Request(
        method=method, path=path[len(PREFIX):] or "/", root=base_prefix + PREFIX,
        query=Request.parse_query(environ.get("QUERY_STRING", "")),
        cookies=Request.parse_cookies(environ.get("HTTP_COOKIE", "")),
        accept_language=environ.get("HTTP_ACCEPT_LANGUAGE", ""), content_type=environ.get("CONTENT_TYPE", ""),
        body=body, address=environ.get("REMOTE_ADDR", ""),
        secure=came_over_tls(app, environ),
        links_base_url=links_base_url(app, environ, base_prefix))
    response = _page(app).handle(request)
    status, headers = response.rendered(request)
    return status, headers, response.body, None


def refuse_other_methods(app: Application, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str,
                         user_groups: set, request_info: dict) -> types.WSGIResponse | None:
    if not is_page_path(path):
        return None
    return (405, {"Allow": ALLOWED, "Content-Type": "text/plain; charset=utf-8"},
            "The page takes GET and POST only.\n", None)


for _method in _OTHER_METHODS:
    route(_method)(refuse_other_methods)
