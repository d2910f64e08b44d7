"""A read-only sharee's PUT of an event: their own alarms and TRANSP, nothing else (caldav-sharing 5.5.x).

Radicale refuses any PUT into a calendar shared read-only (its permission letters
lack ``w``).  The draft lets every sharee keep their own alarms and free/busy, so
a PUT of an existing event through a read-only share is handled here: under
Radicale's storage write lock, with Radicale's preconditions (``If-Match`` against
the ETag the sharee sees, ``If-None-Match: *``), the event goes to the storage
plugin's upload with ``personal_only`` set (:mod:`radicale_ext.plugins.personal_writes`):
kept when only their own part differs (204 with their new ETag), refused with 403,
``DAV:need-privileges`` and a sentence otherwise.  A new event is refused the same way.
Writers' PUTs are Radicale's own; their split happens in the same upload.
"""

from __future__ import annotations

import posixpath
from http import client

from radicale import httputils, pathutils, storage, types
from radicale import item as radicale_item
from radicale.app.base import Access

from radicale_ext.base.errors import Forbidden
from radicale_ext.base.validation import describe_problem

from .. import _http, _request, personal_writes
from .._site import site_for
from ..routes import route


@route("PUT")
def own_alarms_through_a_read_only_share(app, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str,
                                         user_groups: set, request_info: dict) -> types.WSGIResponse | None:
    if not user or not app._sharing._enabled or path.endswith("/"):
        return None
    share = app._sharing.sharing_collection_resolver(path, user, user_groups)
    if not share or share["Owner"] == user or path == share["PathMapped"] or "w" in share["Permissions"]:
        return None
    owner, mapped = share["Owner"], share["PathMapped"]
    parent_path = posixpath.dirname(pathutils.strip_path(mapped))
    if site_for(app.configuration).collection_tag(f"/{parent_path}/") != "VCALENDAR" or not Access(
            app._rights, owner, user_groups, mapped, share["Permissions"]).check("r"):
        return None   # Radicale refuses it as it refuses any write there
    raw = _http.read_body(app, environ)
    text = httputils.decode_request(app.configuration, environ, raw)
    try:
        vobject_item, = radicale_item.read_components(text)
        new = radicale_item.Item(collection_path=parent_path, vobject_item=vobject_item)
        new.prepare()
    except Exception:   # vobject's and Radicale's errors of many kinds: the data is not one calendar object
        return httputils.bad_request(describe_problem(text, "VCALENDAR"))
    with app._storage.acquire_lock("w", owner, path=mapped, request="PUT", actor=user):
        _request.current().personal_only = True
        parent = next(iter(app._storage.discover(pathutils.unstrip_path(parent_path, True))), None)
        if not isinstance(parent, storage.BaseCollection) or parent.tag != "VCALENDAR":
            return None
        href = posixpath.basename(pathutils.strip_path(mapped))
        stored = next(iter(app._storage.discover(mapped)), None)
        if_match = environ.get("HTTP_IF_MATCH", "")
        if stored is not None and (if_match not in ("", "*", stored.etag)
                                   or environ.get("HTTP_IF_NONE_MATCH", "") == "*"):
            return httputils.PRECONDITION_FAILED
        if stored is None and if_match:
            return httputils.PRECONDITION_FAILED
        try:
            uploaded, _ = personal_writes.upload(parent, user, href, new, parent._upload_stored,
                                                 may_write_shared=False)
        except Forbidden as e:   # the privilege a write of shared data needs, and why (RFC 3744 7.1.1)
            return _http.need_privileges(base_prefix, user, "PUT", path, reason=str(e))
    return client.NO_CONTENT, {"ETag": uploaded.etag}, None, None
