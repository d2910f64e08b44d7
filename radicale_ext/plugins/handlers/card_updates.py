"""``/<user>/.card-updates`` (JSON): a person's "ask me first" choice and the changed cards
waiting for their answer (docs/cards.md).

    GET  /bob/.card-updates                      -> {"ask_first": false, "ask_first_from": {...}, "pending": [...]}
    POST /bob/.card-updates  {"accept": "alice"}  -> {"accepted": {"owner": "alice", "name": ..., "fields": [...]}}
    POST /bob/.card-updates  {"decline": "alice"} -> {"declined": {...}}
    POST /bob/.card-updates  {"ask_first": true, "from": "alice"}   ("from" optional) -> as GET

Only the user themselves (403 for others, 401 without login).
"""

from __future__ import annotations

from radicale import types

from radicale_ext.base.errors import ExtError
from radicale_ext.cards.shared_contacts import PendingUpdate

from .. import _http
from .._site import site_for

UPDATES = ".card-updates"


def _update(update: PendingUpdate) -> dict:
    return {"owner": update.owner, "name": update.name, "fields": update.fields}


def _updates(app, user: str) -> dict:
    contacts = site_for(app.configuration).shared_contacts
    modes = contacts.modes(user)
    return {"ask_first": modes.default, "ask_first_from": modes.per_owner,
            "pending": [_update(u) for u in contacts.pending(user)]}


def _answer(app, environ: types.WSGIEnviron, user: str) -> types.WSGIResponse:
    usage = ('send {"accept": "OWNER"}, {"decline": "OWNER"}, or {"ask_first": true|false} '
             '(with "from": "OWNER" for one card)')
    request = _http.read_json(app, environ, usage)
    if not isinstance(request, dict):
        raise ExtError(usage)
    contacts = site_for(app.configuration).shared_contacts
    if isinstance(request.get("accept"), str):
        return _http.json_answer(200, {"accepted": _update(contacts.accept(user, request["accept"]))})
    if isinstance(request.get("decline"), str):
        return _http.json_answer(200, {"declined": _update(contacts.decline(user, request["decline"]))})
    if isinstance(request.get("ask_first"), bool) and isinstance(request.get("from", ""), str):
        contacts.ask_first(user, request["ask_first"], request.get("from") or None)
        return _http.json_answer(200, _updates(app, user))
    raise ExtError(usage)


_http.personal_json_endpoint(UPDATES, _updates, _answer)
