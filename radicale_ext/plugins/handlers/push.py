"""WebDAV-Push (bitfireAT/webdav-push draft) on calendars and address books, as DAVx5 uses it.

- ``webdav-push`` in the ``DAV`` header;
- on each of the user's calendars and address books (their own, and those
  shared with them, at their mount, and their Shared contacts): ``P:transports`` (``P:web-push`` with
  ``P:vapid-public-key``), ``P:topic`` and ``P:supported-triggers``, when
  a PROPFIND asks for them;
- POST ``P:push-register`` to such a collection: registers (or renews) a
  Web Push subscription; 201 (new) or 204 (renewed), with ``Location`` (the
  registration URL, ``/<user>/.push-subscriptions/<id>``) and ``Expires``;
  403 with ``P:invalid-subscription``, ``P:no-supported-trigger`` or
  ``P:push-not-available`` when it cannot be (``P:invalid-subscription``
  also for a push resource whose host does not resolve or leads to the
  server's own machine or networks: :mod:`radicale_ext.notices.outbound`);
- DELETE of a registration URL, by its owner: unsubscribes (204; 404 when
  unknown or expired).

Nothing is offered when notices are off (``[hook] type`` is not ours).
The pushes themselves are sent by the notice worker (:mod:`radicale_ext.notices.channels.push`).
"""

from __future__ import annotations

import email.utils
import time
import xml.etree.ElementTree as ET
from urllib.parse import unquote, urlsplit

from radicale import httputils, types

from radicale_ext.base.errors import ExtError
from radicale_ext.notices.push import webdav_push
from radicale_ext.notices.push.webdav_push import PushNotAvailable, p
from radicale_ext.notices.service import Notices
from radicale_ext.sharing import addresses

from .. import _http, _request
from .._site import circles_now, site_for
from ..card_books import SHARED_CONTACTS
from ..hook import notice_settings
from ..routes import DAV_FEATURES, propfind_step, route
from ..worker import notices_for
from .cs_properties import _value

SEGMENT = ".push-subscriptions"
TRANSPORTS, TOPIC, TRIGGERS = p("transports"), p("topic"), p("supported-triggers")
OURS = frozenset({TRANSPORTS, TOPIC, TRIGGERS})

DAV_FEATURES.append(webdav_push.CAPABILITY)

_notices: dict[int, Notices | None] = {}


def _notices_of(app) -> Notices | None:
    """The site's notices (built once per configuration), or ``None`` when notices are off."""
    key = id(app.configuration)
    if key not in _notices:
        settings = notice_settings(app.configuration)
        _notices[key] = notices_for(app.configuration, settings) if settings.enabled else None
    return _notices[key]


def _collection(app, user: str, segment: str) -> str | None:
    """The owner's path of ``/<user>/<segment>/``: a collection of the user's, or one shared with them."""
    if segment == SHARED_CONTACTS:   # each person's own, of the cards shared with them (docs/cards.md)
        return f"/{user}/{SHARED_CONTACTS}/"
    site = site_for(app.configuration)
    grant = site.shares.grant_at_mount(user, circles_now(site, user), segment)
    if grant is not None:
        return grant.collection
    own = f"/{user}/{segment}/"
    return own if site.collection_tag(own) is not None else None


def _pushable(segment: str) -> bool:
    """A calendar or address book of a home (Radicale's never start with "."), or the home's Shared contacts."""
    return not segment.startswith(".") or segment == SHARED_CONTACTS


@route("POST")
def register(app, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str, user_groups: set,
             request_info: dict) -> types.WSGIResponse | None:
    parts = _http.segments(path)
    if len(parts) != 2 or not _pushable(parts[1]):
        return None
    try:
        body = _http.read_body(app, environ)
    except RuntimeError:
        return httputils.BAD_REQUEST
    if b"push-register" not in body or webdav_push.NS.encode() not in body:
        return None
    if not user:
        return httputils.NOT_ALLOWED
    try:
        notices = _notices_of(app)
        collection = _collection(app, user, parts[1]) if parts[0] == user else None
        if notices is None or collection is None:
            raise PushNotAvailable(f"WebDAV-Push is not available for {path!r}: it is not a calendar or "
                                   "address book of yours or shared with you" if notices else
                                   "WebDAV-Push is off on this server (notices are off)")
        registration = webdav_push.parse_registration(body)
        subscription, new = notices.subscriptions.register(user, collection, registration, time.time())
    except ExtError as e:
        return _http.error(e, user)
    headers = {"Location": _registration_url(environ, base_prefix, user, subscription.id, notices.settings.public_url),
               "Expires": email.utils.formatdate(subscription.expires_at, usegmt=True)}
    return (201 if new else 204), headers, None, None


def _registration_url(environ: types.WSGIEnviron, base_prefix: str, user: str, sub_id: str, public_url: str) -> str:
    """The absolute registration URL the draft asks for in ``Location``: on the origin the request came to, or on
    ``[hook] notices_public_url``'s (behind a proxy that does not say which scheme the client used)."""
    if public_url:
        parts = urlsplit(public_url)
        origin = f"{parts.scheme}://{parts.netloc}"
    else:
        host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME', 'localhost')}:{environ.get('SERVER_PORT')}"
        origin = f"{environ.get('wsgi.url_scheme', 'http')}://{host}"
    return origin + addresses.href(f"/{user}/{SEGMENT}/{sub_id}", base_prefix)


def _registration_id(url: str, user: str, base_prefix: str) -> str | None:
    """The id of ``user``'s registration that ``url`` names (absolute, as ``Location`` gave it, or a path);
    ``None`` for anything else, someone else's registration included (the draft's section "Security Context")."""
    path = unquote(urlsplit(url).path)
    if base_prefix and path.startswith(base_prefix + "/"):
        path = path[len(base_prefix):]
    parts = _http.segments(path)
    return parts[2] if len(parts) == 3 and parts[0] == user and parts[1] == SEGMENT and parts[2] else None


def note_push_dont_notify(app, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str,
                          user_groups: set, request_info: dict) -> types.WSGIResponse | None:
    """Before a write: which of the user's devices its changes are not pushed to (``Push-Dont-Notify``); the
    storage plugin keeps them in each outbox record (:func:`radicale_ext.plugins._request.push_dont_notify`)."""
    value = environ.get("HTTP_PUSH_DONT_NOTIFY", "")
    named = webdav_push.parse_push_dont_notify(value) if value and user else ()
    if named == (webdav_push.EVERY_DEVICE,):
        _request.note_push_dont_notify(named)
    else:
        ids = (_registration_id(url, user, base_prefix) for url in named)
        _request.note_push_dont_notify(tuple(i for i in ids if i))
    return None


for _method in ("PUT", "DELETE", "MOVE", "PROPPATCH", "MKCOL", "MKCALENDAR"):
    route(_method)(note_push_dont_notify)


@route("DELETE")
def unsubscribe(app, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str, user_groups: set,
                request_info: dict) -> types.WSGIResponse | None:
    parts = _http.segments(path)
    if len(parts) != 3 or parts[1] != SEGMENT:
        return None
    if not user:
        return httputils.NOT_ALLOWED
    notices = _notices_of(app)
    try:
        if notices is None or parts[0] != user:
            raise PushNotAvailable("a push subscription may be removed only by its owner")
        notices.subscriptions.unsubscribe(user, parts[2])
    except ExtError as e:
        return _http.error(e, user)
    return 204, {}, None, None


@propfind_step
def complete_push_properties(app, multistatus: ET.Element, user: str, base_prefix: str) -> None:
    responses = multistatus.findall("{DAV:}response")
    if not user or not responses:
        return
    asked = {e.tag for e in responses[0].iterfind("{DAV:}propstat/{DAV:}prop/*")} & OURS
    notices = _notices_of(app) if asked else None
    if notices is None:
        return
    for response in responses:
        href = unquote(response.findtext("{DAV:}href") or "")
        parts = _http.segments(href[len(base_prefix):] if base_prefix and href.startswith(base_prefix) else href)
        if len(parts) != 2 or parts[0] != user or not _pushable(parts[1]):
            continue
        collection = _collection(app, user, parts[1])
        if collection is None:
            continue
        if TRANSPORTS in asked:
            webdav_push.fill_transports(_value(response, TRANSPORTS), notices.vapid().public_key)
        if TOPIC in asked:
            _value(response, TOPIC).text = notices.topic(collection)
        if TRIGGERS in asked:
            webdav_push.fill_supported_triggers(_value(response, TRIGGERS))
