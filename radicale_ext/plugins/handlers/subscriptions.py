"""The subscription endpoint, ``/<user>/.subscribable`` (JSON): what a person may subscribe to.

    GET  /bob/.subscribable                                 -> [{"collection": "/school/calendar/", ...}]
    POST /bob/.subscribable  {"subscribe": "school/calendar"}   -> {"path": "/bob/calendar~school/"}
    POST /bob/.subscribable  {"unsubscribe": "school/calendar"} -> {}

Someone outside a collection's scope gets 403 with the same reason whether
or not the collection exists (:mod:`radicale_ext.sharing.scopes`).
"""

from __future__ import annotations

from radicale import types

from radicale_ext.base.errors import ExtError

from .. import _http
from .._site import site_for

SEGMENT = ".subscribable"


def _subscribable(app, user: str) -> list[dict]:
    return [{"collection": s.collection, "owner": s.owner, "name": s.name, "subscribed": s.path is not None,
             "path": s.path} for s in site_for(app.configuration).scopes.subscribable(user)]


USAGE = 'send {"subscribe": "OWNER/COLLECTION"} or {"unsubscribe": "OWNER/COLLECTION"}'


def _change(app, environ: types.WSGIEnviron, user: str) -> types.WSGIResponse:
    request = _http.read_json(app, environ, USAGE)
    if not isinstance(request, dict) or len(request) != 1 or not isinstance(next(iter(request.values())), str):
        raise ExtError(USAGE)
    scopes = site_for(app.configuration).scopes
    if "subscribe" in request:
        grant = scopes.subscribe(user, request["subscribe"])
        return _http.json_answer(200, {"collection": grant.collection, "path": grant.mount_path(user)})
    if "unsubscribe" in request:
        scopes.unsubscribe(user, request["unsubscribe"])
        return _http.json_answer(200, {})
    raise ExtError(USAGE)


_http.personal_json_endpoint(SEGMENT, _subscribable, _change)
