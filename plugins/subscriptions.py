"""The subscription endpoint, ``/<user>/.subscribable`` (JSON): what a person may subscribe to.

    GET  /bob/.subscribable                                 -> [{"collection": "/school/calendar/", ...}]
    POST /bob/.subscribable  {"subscribe": "school/calendar"}   -> {"path": "/bob/calendar~school/"}
    POST /bob/.subscribable  {"unsubscribe": "school/calendar"} -> {}

Someone outside a collection's scope gets 403 with the same reason whether
or not the collection exists (:mod:`radicale_ext.scopes`).
"""

from __future__ import annotations

import json

from radicale import httputils, types

from radicale_ext.errors import ExtError, Forbidden

from . import _http
from ._site import site_for
from .routes import route

SEGMENT = ".subscribable"


def _subscribable(app, user: str) -> list[dict]:
    return [{"collection": s.collection, "owner": s.owner, "name": s.name, "subscribed": s.path is not None,
             "path": s.path} for s in site_for(app.configuration).scopes.subscribable(user)]


def _change(app, environ: types.WSGIEnviron, user: str) -> types.WSGIResponse:
    try:
        request = json.loads(_http.read_body(app, environ) or b"null")
    except (ValueError, RuntimeError):
        raise ExtError('the body is not JSON; send {"subscribe": "OWNER/COLLECTION"} '
                       'or {"unsubscribe": "OWNER/COLLECTION"}') from None
    if not isinstance(request, dict) or len(request) != 1 or not isinstance(next(iter(request.values())), str):
        raise ExtError('send {"subscribe": "OWNER/COLLECTION"} or {"unsubscribe": "OWNER/COLLECTION"}')
    scopes = site_for(app.configuration).scopes
    if "subscribe" in request:
        grant = scopes.subscribe(user, request["subscribe"])
        return _http.json_answer(200, {"collection": grant.collection, "path": grant.mount_path(user)})
    if "unsubscribe" in request:
        scopes.unsubscribe(user, request["unsubscribe"])
        return _http.json_answer(200, {})
    raise ExtError('send {"subscribe": "OWNER/COLLECTION"} or {"unsubscribe": "OWNER/COLLECTION"}')


def _handler(method: str):
    def handle(app, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str, user_groups: set,
               request_info: dict) -> types.WSGIResponse | None:
        parts = _http.segments(path)
        if len(parts) != 2 or parts[1] != SEGMENT:
            return None
        if not user:
            return httputils.NOT_ALLOWED
        try:
            if parts[0] != user:
                raise Forbidden("this list is for its owner only")
            if method == "GET":
                return _http.json_answer(200, _subscribable(app, user))
            return _change(app, environ, user)
        except ExtError as e:
            return _http.json_error(e, user)
    return handle


route("GET")(_handler("GET"))
route("POST")(_handler("POST"))
