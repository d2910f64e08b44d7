"""Share links over HTTP: ``/.links/<token>.ics`` and ``.vcf`` (see docs/links.md).

- GET and HEAD, with no account: the link's current content, answered here
  before any of Radicale's handlers, through :class:`radicale_ext.links.reader.LinkReader`.
- GET ``?qr=svg`` or ``?qr=png`` (``&scale=N``, ``&webcal=1``), logged in as the
  owner or the link's maker: the QR code of the link's address.
- Every other method on a link path: 405, so nothing under ``/.links/`` ever
  reaches Radicale's write handlers.

A link is read only under the spelling it was given out with (see
:func:`radicale_ext.links.tokens.spelled_as_given`): a request that reaches a
link's path only through Radicale's path sanitising or percent-decoding gets
404 without its token being looked at.  Radicale logs every request's path,
waitress the path of a request that failed: every log record of the process
(any logger) has its link tokens cut to their id, however the path was spelled,
so no log line holds a working address.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import traceback
from collections.abc import Callable, Iterator
from http import client
from urllib.parse import parse_qs

from radicale import Application, httputils, storage, types

from radicale_ext.base.errors import ExtError, NotFound
from radicale_ext.links import qr
from radicale_ext.links.feeds import StoredItem
from radicale_ext.links.reader import LinkReader, Reply, StoredCollection, error_reply
from radicale_ext.links.tokens import is_link_path, may_mention_link, redact_tokens, spelled_as_given
from radicale_ext.site import Site

from .. import _request
from .._site import site_for
from ..me_card_views import LinkedMeCards
from ..routes import route

ALLOWED = "GET, HEAD, OPTIONS"
_METHODS = ("POST", "PUT", "DELETE", "PROPFIND", "PROPPATCH", "REPORT", "MKCOL", "MKCALENDAR", "MOVE")
_readers: dict[Site, LinkReader] = {}
_readers_lock = threading.Lock()


NOT_AS_GIVEN = ("No link has this address: a share link works only written exactly as it was given "
                "(/.links/ and its token, without extra slashes, dot segments or percent-encoding).")


class _RedactedRecords:
    """A log record factory: every record of every logger leaves with link tokens cut to their id.

    A factory rather than a filter: a filter on a logger does not see its
    children's records, and waitress's and our loggers are not Radicale's.
    An exception's text is cut too (kept as the record's ``exc_text``).
    """

    def __init__(self, upstream: Callable[..., logging.LogRecord]) -> None:
        self._upstream = upstream

    def __call__(self, *args, **kwargs) -> logging.LogRecord:
        record = self._upstream(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: logging reports it when the record is written
            return record
        if may_mention_link(message):
            redacted = redact_tokens(message)
            if redacted != message:
                record.msg, record.args = redacted, None
        if record.exc_info and record.exc_info[1] is not None:
            text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            if may_mention_link(text) and redact_tokens(text) != text:
                record.exc_text = redact_tokens(text)
        return record


if not isinstance(logging.getLogRecordFactory(), _RedactedRecords):
    logging.setLogRecordFactory(_RedactedRecords(logging.getLogRecordFactory()))


class RadicaleContent:
    """:class:`radicale_ext.links.reader.ContentSource` over Radicale's storage."""

    def __init__(self, store: storage.BaseStorage) -> None:
        self._storage = store

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        with _request.reading_as(""), self._storage.acquire_lock("r"):  # a link reads what is stored
            yield

    def collection(self, path: str) -> StoredCollection | None:
        found = next(iter(self._storage.discover(path)), None)
        if not isinstance(found, storage.BaseCollection) or not found.tag:
            return None
        items = [StoredItem(i.href or "", i.serialize(), i.etag) for i in found.get_all()]
        return StoredCollection(tag=found.tag, display_name=found.get_meta("D:displayname"),
                                description=found.get_meta("C:calendar-description"), items=items,
                                last_modified=found.last_modified)

    def item(self, collection: str, href: str) -> tuple[StoredItem, str] | None:
        found = next(iter(self._storage.discover(collection + href)), None)
        if found is None or isinstance(found, storage.BaseCollection):
            return None
        return StoredItem(href, found.serialize(), found.etag), found.last_modified or ""


def _reader(app: Application) -> LinkReader:
    """One reader (its caches and its throttle) per server."""
    site: Site = site_for(app.configuration)
    with _readers_lock:
        reader = _readers.get(site)
        if reader is None:
            reader = LinkReader(site.links, collections=site.collections,
                                owner_exists=site.user_exists, me_cards=LinkedMeCards(site.cards))
            _readers[site] = reader
    return reader


def _response(reply: Reply) -> types.WSGIResponse:
    return reply.status, reply.headers, reply.body, None


def links_base_url(app: Application, environ: types.WSGIEnviron, base_prefix: str) -> str:
    with contextlib.suppress(KeyError):
        configured = app.configuration.get("sharing", "links_base_url")
        if configured:
            return str(configured).rstrip("/")
    host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME', '127.0.0.1')}:{environ.get('SERVER_PORT', '')}"
    return f"{environ.get('wsgi.url_scheme', 'http')}://{host}{base_prefix}"


def _request_target(environ: types.WSGIEnviron) -> str:
    """The path as the client wrote it (waitress's ``REQUEST_URI``), else as the WSGI server decoded it."""
    return environ.get("REQUEST_URI") or environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")


@route("GET")
@route("HEAD")
def read_link(app: Application, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str,
              user_groups: set, request_info: dict) -> types.WSGIResponse | None:
    if not is_link_path(path):
        return None
    if not spelled_as_given(_request_target(environ), path):
        return _response(error_reply(NotFound(NOT_AS_GIVEN)))
    address = environ.get("REMOTE_ADDR", "")
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if "qr" in query:
        if not user:
            return httputils.NOT_ALLOWED  # Radicale asks for a login
        try:
            kind = qr.ImageKind.parse(query["qr"][0])
            scale = int(query.get("scale", [qr.DEFAULT_SCALE])[0])
        except (ExtError, ValueError) as e:
            return _response(error_reply(e if isinstance(e, ExtError) else ExtError("scale must be a number")))
        return _response(_reader(app).qr_code(
            path, actor=user, address=address, base_url=links_base_url(app, environ, base_prefix), kind=kind,
            scale=scale, as_webcal=query.get("webcal", ["0"])[0] in ("1", "true", "yes")))
    return _response(_reader(app).read(
        path, address=address, source=RadicaleContent(app._storage),
        if_none_match=environ.get("HTTP_IF_NONE_MATCH", ""),
        if_modified_since=environ.get("HTTP_IF_MODIFIED_SINCE", "")))


@route("OPTIONS")
def link_options(app: Application, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str,
                 user_groups: set, request_info: dict) -> types.WSGIResponse | None:
    if not is_link_path(path):
        return None
    return client.OK, {"Allow": ALLOWED, "Content-Length": "0"}, None, None


def refuse_writes(app: Application, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str,
                  user_groups: set, request_info: dict) -> types.WSGIResponse | None:
    """Links only ever read."""
    if not is_link_path(path):
        return None
    return (client.METHOD_NOT_ALLOWED, {"Allow": ALLOWED, "Content-Type": "text/plain; charset=utf-8"},
            b"A share link can only be read (GET).\n", None)


for _method in _METHODS:
    route(_method)(refuse_writes)
