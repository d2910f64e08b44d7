"""What every request must be before a handler (ours or Radicale's) sees it, and why Radicale refused one.

- Names: every name in the path, and in a MOVE's ``Destination``, fits in a
  file name (:func:`radicale_ext.base.request_limits.check_names`), so a
  long one is refused with a sentence instead of a 500 from the disk.
- XML bodies are bounded in size, depth and elements, with no entities
  (:func:`radicale_ext.base.request_limits.check_xml`), before Radicale
  parses them (its pretty-printer recursed through a 200,000-deep body
  until the process died).  The check runs when a handler first reads the
  body, so a request its handler refuses for another reason (a method not
  allowed there, no access) gets that answer.
- A MOVE to a name holding ``#`` or ``?`` (sent as ``%23``, ``%3F``) is
  refused: Radicale decodes the ``Destination`` before splitting it, so it
  would store the item under the part before the ``#``.
- Radicale's bare refusal of a logged-in person becomes ``DAV:need-privileges``
  with a sentence (:func:`explained`).
"""

from __future__ import annotations

import io
from urllib.parse import unquote, urlparse, urlsplit

from radicale import httputils, pathutils, types

from radicale_ext.base import request_limits
from radicale_ext.base.errors import ExtError
from radicale_ext.base.names import shown

from . import _http

XML_METHODS = frozenset({"PROPFIND", "PROPPATCH", "REPORT", "MKCOL", "MKCALENDAR"})


class DestinationRefused(ExtError):
    status = 403


def check(method: str, environ: types.WSGIEnviron, path: str) -> None:
    """Raise :class:`ExtError` for a request no handler should run."""
    request_limits.check_names(path)
    if method == "MOVE" and environ.get("HTTP_DESTINATION"):
        to_path = unquote(urlsplit(environ["HTTP_DESTINATION"]).path)
        request_limits.check_names(to_path)
        if "#" in to_path or "?" in to_path:
            raise DestinationRefused(f"an item cannot be moved to {shown(to_path)}: a name with '#' or '?' can "
                                     "be stored with PUT, but not be the destination of a MOVE here")
    if method in XML_METHODS or (method == "POST" and "xml" in environ.get("CONTENT_TYPE", "")):
        environ["wsgi.input"] = _CheckedXml(environ["wsgi.input"])


class _CheckedXml:
    """A request body that is checked as XML, whole, when it is first read; raises :class:`ExtError`."""

    def __init__(self, stream) -> None:
        self._stream = stream
        self._checked: io.BytesIO | None = None

    def read(self, size: int = -1) -> bytes:
        if self._checked is None:
            body = self._stream.read(request_limits.MAX_XML_BYTES + 1)
            request_limits.check_xml(body)
            self._checked = io.BytesIO(body)
        return self._checked.read(size)


def radicales_destination(environ: types.WSGIEnviron, base_prefix: str) -> str | None:
    """A MOVE's Destination as Radicale reads it: the path without the base prefix."""
    raw = environ.get("HTTP_DESTINATION", "")
    if not raw:
        return None
    path = pathutils.sanitize_path(urlparse(unquote(raw)).path)
    return path[len(base_prefix):] if base_prefix and path.startswith(base_prefix + "/") else path


def explained(response: types.WSGIResponse, method: str, environ: types.WSGIEnviron, base_prefix: str,
              path: str, user: str) -> types.WSGIResponse:
    """Radicale's bare refusal of a logged-in person, as the privileges they lack (RFC 3744 section 7.1.1)."""
    if not user or response != httputils.NOT_ALLOWED:
        return response
    return _http.need_privileges(base_prefix, user, method, path, radicales_destination(environ, base_prefix))
