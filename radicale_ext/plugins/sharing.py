"""Sharing plugin: Radicale's map sharing, fed by our sharing database.

Radicale asks :meth:`Sharing.database_get_sharing` whether a path such as
``/bob/family~alice/`` is a share mounted in bob's home, and
:meth:`Sharing.database_list_sharing` which shares to list in a home.  We
answer from :class:`radicale_ext.sharing.shares.ShareBook` (one indexed query) and
translate roles into Radicale's permission letters here, and only here.

Only shares that count for the user (at once, accepted, or a subscription in
scope: :mod:`radicale_ext.sharing.shares`) are answered, so pending and declined
invitations neither resolve nor appear in homes.

A sharee's PROPPATCH through their mount changes only their own view of the
collection (its name, colour, description): Radicale's properties overlay,
which it stores through :meth:`Sharing.database_update_sharing`.

A mount is ``/<user>/<collection>~<owner>/``, or the free name the share
takes when a collection of the user's own is already there
(:mod:`radicale_ext.sharing.mounts`); the share book answers both.

Shares are created with the radicale-ext CLI and the CalendarServer sharing
protocol, not with Radicale's JSON API (``permit_create_map`` stays off), so
the ``database_create/delete`` calls answer "not-implemented".
"""

from __future__ import annotations

from typing import Any

from radicale import config, pathutils, sharing
from radicale.log import logger

from radicale_ext.base.model import Grant, Role

from ._site import circles_now, remembered, site_for
from .options import check_options

ROLE_PERMISSIONS = {Role.SUBSCRIBER: "r", Role.COLLABORATOR: "rw"}
# "P" lets a sharee PROPPATCH their own view (Radicale's properties overlay),
# read-only sharees included, as CalendarServer's per-user properties want;
# "E" sends a collaborator's PROPPATCH to that overlay too, never to the
# owner's collection.  Radicale then shows DAV:write-properties on the mount,
# which handlers/mounts.py takes out again where the sharee may not write
# items: Thunderbird reads it as "writable" (docs/sharing.md).
OWN_VIEW = "PE"


def _intersect(a: str, b: str) -> str:
    return "".join(ch for ch in a if ch in b)


class Sharing(sharing.BaseSharing):
    def __init__(self, configuration: config.Configuration) -> None:
        check_options(configuration)  # a misspelt option stops the start, with one clear line
        self._site = site_for(configuration)  # raises DatabaseUnavailable before anything else starts
        super().__init__(configuration)

    # -- database life cycle --------------------------------------------------

    def database_init(self) -> bool:
        return True

    def database_get_info(self) -> dict | None:
        return {"type": "radicale-ext", "engine": self._site.db.engine, "path": self._site.db.path}

    def database_verify(self) -> bool:
        return self._site.db.healthy()

    # -- lookups Radicale makes on every request --------------------------------

    def database_get_sharing(self, ShareType: str, PathOrToken: str, OnlyEnabled: bool = True,
                             User: str | None = None) -> dict | None:
        if ShareType != "map" or not User:
            return None
        user = User.split(sharing.SHARING_SEPARATOR_GROUP, 1)[0]
        parts = pathutils.strip_path(PathOrToken).split("/")
        if len(parts) != 2 or parts[0] != user:
            return None
        circles = circles_now(self._site, user)
        grant = remembered(self._site, ("grant at mount", user, parts[1]),
                           lambda: self._site.shares.grant_at_mount(user, circles, parts[1]))
        if grant is None:
            return None
        return self._row(grant, user, circles)

    def database_list_sharing(self, OwnerOrUser: str | None = None, ShareType: str | None = None,
                              PathOrToken: str | None = None, PathMapped: str | None = None,
                              User: str | None = None, EnabledByOwner: bool | None = None,
                              EnabledByUser: bool | None = None, HiddenByOwner: bool | None = None,
                              HiddenByUser: bool | None = None, Conversion: str | None = None) -> list[dict]:
        if ShareType not in (None, "map") or EnabledByOwner is False or HiddenByOwner is True:
            return []
        if PathMapped is not None and User is None and OwnerOrUser is None:
            # Radicale asks this before a DELETE to refuse deleting a shared
            # collection (409).  We let the owner delete it: the storage plugin
            # drops its shares with it, and sharees stop seeing it.
            return []
        who = User or OwnerOrUser
        if not who:
            return []
        user = who.split(sharing.SHARING_SEPARATOR_GROUP, 1)[0]
        circles = circles_now(self._site, user)
        rows = [self._row(g, user, circles) for g in self._site.shares.grants_for(user, circles)]
        if PathOrToken is not None:
            rows = [r for r in rows if r["PathOrToken"] == PathOrToken]
        if PathMapped is not None:
            rows = [r for r in rows if r["PathMapped"] == PathMapped]
        return rows

    def _row(self, grant: Grant, user: str, circles: frozenset[str]) -> dict[str, Any]:
        permissions = ROLE_PERMISSIONS[grant.role]
        decision = self._rights.file_decision(user, set(circles), grant.collection) \
            if hasattr(self._rights, "file_decision") else None
        if decision is not None:  # the admin's rights file has the last word
            permissions = _intersect(permissions, decision)
        if "r" in permissions:
            permissions += OWN_VIEW
        return {
            "mapped": True, "ShareType": "map",
            "PathOrToken": grant.mount_path(user), "PathMapped": grant.collection,
            "Owner": grant.owner, "User": user, "Permissions": permissions,
            "EnabledByOwner": True, "EnabledByUser": True,
            "HiddenByOwner": False, "HiddenByUser": False, "Hidden": False,
            "Properties": {"D:displayname": self._default_name(grant), **grant.properties},
            "Conversion": "none", "Actions": {},
            "TimestampCreated": 0, "TimestampUpdated": 0,
        }

    def _default_name(self, grant: Grant) -> str:
        """What a sharee sees until they rename it: "family (alice)"."""
        name = self._site.collections.display_name(grant.collection) \
            or grant.collection.strip("/").split("/")[1]
        return f"{name} ({grant.owner})"

    # -- Radicale's JSON API: shares are managed with the radicale-ext CLI ------

    # (Radicale's own signatures, so that tests/test_plugin_api.py can lock them)

    def database_create_sharing(self, ShareType: str, PathOrToken: str, PathMapped: str, Conversion: str,
                                Owner: str, User: str, Permissions: str = "r",
                                EnabledByOwner: bool = False, EnabledByUser: bool = False,
                                HiddenByOwner: bool = True, HiddenByUser: bool = True, Timestamp: int = 0,
                                Properties: dict | None = None, Actions: dict | None = None) -> dict:
        logger.warning("sharing: create shares with 'radicale-ext share add', not Radicale's API")
        return {"status": "not-implemented"}

    def database_update_sharing(self, ShareType: str, PathOrToken: str, OwnerOrUser: str | None = None,
                                User: str | None = None, PathMapped: str | None = None,
                                Permissions: str | None = None, EnabledByOwner: bool | None = None,
                                EnabledByUser: bool | None = None, HiddenByOwner: bool | None = None,
                                HiddenByUser: bool | None = None, Timestamp: int = 0,
                                Properties: dict | None = None, Conversion: str | None = None,
                                Actions: dict | None = None) -> dict:
        """Radicale's properties overlay: a sharee's PROPPATCH through their mount
        (``Properties``, already limited to Radicale's overlay whitelist)."""
        if ShareType != "map" or Properties is None or not OwnerOrUser:
            return {"status": "not-implemented"}
        user = OwnerOrUser.split(sharing.SHARING_SEPARATOR_GROUP, 1)[0]
        parts = pathutils.strip_path(PathOrToken).split("/")
        grant = self._site.shares.grant_at_mount(user, circles_now(self._site, user), parts[1]) \
            if len(parts) == 2 and parts[0] == user else None
        if grant is None:
            return {"status": "not-found"}
        default = self._default_name(grant)
        view = {k: str(v) for k, v in Properties.items()
                if v is not None and not (k == "D:displayname" and v == default)}
        # what Radicale's overlay does not know stays (CALDAV:schedule-calendar-transp, handlers/personal_data.py)
        view.update({k: v for k, v in grant.properties.items() if k not in sharing.OVERLAY_PROPERTIES_WHITELIST_ICS
                     and k not in sharing.OVERLAY_PROPERTIES_WHITELIST_VCF})
        self._site.shares.set_properties(user, grant.collection, view)
        return {"status": "success"}

    def database_delete_sharing(self, ShareType: str, PathOrToken: str, User: str) -> dict:
        return {"status": "not-implemented"}
