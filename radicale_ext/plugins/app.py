"""Radicale's Application, extended in this one place.

Where Radicale's request handling has no plugin hook, we subclass its
Application here rather than patching its files:

- PUT: a refusal of bad data says why ("Bad Request: the data is not valid
  iCalendar (RFC 5545): At line 4: Component VEVENT was never closed").
- PUT: a series repeating too often, or a whole calendar of too many items,
  is refused before Radicale works on it, and a REPORT notes its time
  ranges so that the storage plugin bounds the recurrence walk
  (:mod:`radicale_ext.base.recurrence_limits`, :mod:`.recurrence_guard`).
- PUT of a whole collection onto a share is refused (403): it would replace
  the owner's collection, items and name.  Radicale already refuses to
  DELETE a mounted collection; a share's permission letters can only narrow
  the owner's own rights, so this one rule needs the request handling.
- An answer without a body says ``Content-Length: 0`` (PUT, MKCOL, MOVE,
  OPTIONS...), so the client's connection stays open for the next request.
- Every request passes :mod:`.request_checks` first (names that fit a file,
  bounded XML bodies); a core error (:class:`ExtError`) raised by any
  handler, ours or a storage call inside Radicale's, becomes its answer.
- A logged-in person's request that Radicale's rights refuse gets 403 with
  ``DAV:need-privileges`` (RFC 3744 section 7.1.1) and a sentence, at once:
  Radicale's ``[auth] delay`` then applies to failed logins only, not to
  every 401 and 403 (a client's first request without credentials, a
  subscriber's refused write).
- Features add handlers for any method through :mod:`.routes`; the modules
  of handlers/ listed in ``FEATURES`` below register theirs when imported.  Through the
  same table they add PROPFIND steps (run in ``_xml_response``, the one place
  a PROPFIND answer is completed), steps after a successful PUT, and
  capabilities of the ``DAV`` header.
"""

from __future__ import annotations

import importlib
import io
import threading

import radicale
from radicale import auth, config, httputils, pathutils, types

from radicale_ext.base import recurrence_limits
from radicale_ext.base.errors import ExtError, Forbidden
from radicale_ext.base.validation import describe_problem, refuse_server_storage

from . import _http, _request, put_ahead, recurrence_guard, request_checks
from .routes import AFTER_WRITE, DAV_FEATURES, PROPFIND_STEPS, dispatch

# Modules of handlers/ that add request handlers, imported for their @route side effect in
# this order, which is the order in which their handlers are asked.
FEATURES: tuple[str, ...] = ("web", "links", "push", "cs_sharing", "mounts", "personal_data", "personal_properties",
                             "cs_properties", "notifications", "subscriptions", "cards", "card_updates", "listing",
                             "report_members")
for _feature in FEATURES:
    importlib.import_module(f"{__package__}.handlers.{_feature}")

_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PROPFIND", "PROPPATCH", "REPORT", "MKCOL",
            "MKCALENDAR", "MOVE", "OPTIONS")


# statuses that never have a body, so no Content-Length (RFC 9110 section 8.6)
_NO_BODY = ("1", "204", "304")


def _is_collection(path: str) -> bool:
    """A PUT onto ``/alice/family/`` (or ``/alice/family``) replaces a whole calendar or address book."""
    return path.endswith("/") or len([p for p in path.split("/") if p]) == 2


def _expected_component(path: str) -> str | None:
    if path.endswith(".ics"):
        return "VCALENDAR"
    if path.endswith(".vcf"):
        return "VCARD"
    return None


class _LoginWatch:
    """Radicale's auth plugin, noting for this request whether the credentials it was given were refused."""

    def __init__(self, plugin: auth.BaseAuth) -> None:
        self._plugin = plugin

    def __getattr__(self, name: str):
        return getattr(self._plugin, name)

    def login(self, login: str, password: str, context: auth.AuthContext) -> tuple[str, str, set]:
        answer = self._plugin.login(login, password, context)
        _request.note_login(failed=not answer[0])
        return answer


class Application(radicale.Application):
    def __init__(self, configuration: config.Configuration) -> None:
        super().__init__(configuration)
        self._auth = _LoginWatch(self._auth)  # type: ignore[assignment]
        self._put_turn = threading.Lock()
        put_ahead.install()

    @property
    def _auth_delay(self) -> float:  # type: ignore[override]
        """Radicale reads this where a failed login waits, and again for every 401 and 403 it answers
        (so a first request without credentials, or a subscriber's refused write, waited too): the
        delay is the failed login's only."""
        return self._failed_login_delay if _request.login_failed() else 0.0

    @_auth_delay.setter
    def _auth_delay(self, seconds: float) -> None:
        self._failed_login_delay = seconds

    def _handle_request(self, environ: types.WSGIEnviron) -> types.WSGIResponse:
        _request.begin_request()
        _request.principal_check_next()
        status, headers, answers = super()._handle_request(environ)
        if DAV_FEATURES:
            headers = [(k, ", ".join([v, *DAV_FEATURES]) if k == "DAV" else v) for k, v in headers]
        if not answers and not status.startswith(_NO_BODY) and all(k.lower() != "content-length" for k, _ in headers):
            # an answer without a length ends with the connection (RFC 9112 section 6.3): say it is empty
            headers = [*headers, ("Content-Length", "0")]
        return status, headers, answers

    def _xml_response(self, xml_content, request_info: dict) -> bytes:
        """Radicale writes every XML answer here: PROPFIND answers get the features' steps first."""
        if request_info.get("method") == "PROPFIND" and "radicale_ext_user" in request_info:
            for step in PROPFIND_STEPS:
                step(self, xml_content, request_info["radicale_ext_user"], request_info["radicale_ext_base_prefix"])
        return super()._xml_response(xml_content, request_info)

    def _put(self, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str,
             user_groups: set, request_info: dict) -> types.WSGIResponse:
        """Radicale's PUT: refused onto a share's mount, bounded (:mod:`radicale_ext.base.recurrence_limits`),
        explained when the data is bad.

        PUTs take turns within a process (each write holds the storage's one write lock anyway; the body
        is read before, so a slow sender holds nobody up): a PUT holding that lock no longer shares its
        process's interpreter with other PUTs parsing their bodies meanwhile, which made the locked part
        last twice as long and kept several clients' writes from going faster than one client's; the
        other server processes parse theirs meanwhile (docs/performance.md)."""
        if self._replaces_a_shared_collection(path, user, user_groups):
            raise Forbidden(f"{user} may not replace the whole of {path}: it is shared with them, and a share "
                            "changes items one by one, never the owner's whole calendar or address book")
        raw = self._buffer_body(environ)
        text = httputils.decode_request(self.configuration, environ, raw) if raw is not None else None
        with self._put_turn, put_ahead.for_this_request(getattr(self._storage, "put_ahead", None)):
            if text is not None:
                recurrence_limits.check_upload(text, self._max_vevent_rrule_occurrence, _is_collection(path))
            response = super().do_PUT(environ, base_prefix, path, user, user_groups, request_info)
        if 200 <= response[0] < 300:
            for step in AFTER_WRITE.get("PUT", ()):
                step(self, path, user, user_groups, raw)
        if text is None or response[0] != 400 or response[2] != "Bad Request":
            return response
        refuse_server_storage(text)
        expected = _expected_component(pathutils.sanitize_path(path))
        return httputils.bad_request(describe_problem(text, expected))

    def _report(self, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str,
                user_groups: set, request_info: dict) -> types.WSGIResponse:
        """Radicale's REPORT, its recurrence work bounded (:mod:`.recurrence_guard`)."""
        recurrence_guard.note_report(_http.read_body(self, environ))
        return super().do_REPORT(environ, base_prefix, path, user, user_groups, request_info)

    def _replaces_a_shared_collection(self, path: str, user: str, user_groups: set) -> bool:
        if not user or not self._sharing._enabled:
            return False
        share = self._sharing.sharing_collection_resolver(path, user, user_groups)
        return bool(share) and share["PathMapped"].endswith("/") and share["Owner"] != user

    def _buffer_body(self, environ: types.WSGIEnviron) -> bytes | None:
        """Read the body once and hand Radicale a copy, so a refusal can be explained."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None
        if length <= 0 or length > self.configuration.get("server", "max_content_length"):
            return None  # let Radicale answer as it does
        raw = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(raw)
        return raw


def _guarded(method: str, handler):
    """``handler`` (Radicale's ``do_<method>``, or ours) behind :mod:`.request_checks`, the features'
    handlers and the translation of core errors and of Radicale's bare refusals."""

    def handle(self: Application, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str,
               user_groups: set, request_info: dict) -> types.WSGIResponse:
        _request.no_principal_check()
        try:
            request_checks.check(method, environ, path)
            response = (dispatch(self, method, environ, base_prefix, path, user, user_groups, request_info)
                        or handler(self, environ, base_prefix, path, user, user_groups, request_info))
        except ExtError as e:
            return _http.error(e, user)
        return request_checks.explained(response, method, environ, base_prefix, path, user)
    handle.__name__ = f"do_{method}"
    return handle


# our own steps around Radicale's handler of a method
_OWN = {"PUT": Application._put, "REPORT": Application._report}

# every method Radicale handles goes through the checks and the features' handlers first
for _method in _METHODS:
    if hasattr(radicale.Application, f"do_{_method}"):
        setattr(Application, f"do_{_method}",
                _guarded(_method, _OWN.get(_method) or getattr(radicale.Application, f"do_{_method}")))
