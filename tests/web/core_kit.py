"""What the web page's core tests (no server) share: names, and a site with circle family (alice manages it;
bob and carol are in it) and the admin's groups-file circle staff (dave, erin)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

from radicale_ext.base.model import Grantee, GranteeKind
from radicale_ext.site import Settings, Site

from ..server import USERS, write_users

FAMILY = Grantee(GranteeKind.CIRCLE, "family")
EVIL = "<script>alert(1)</script>"


def user(name: str) -> Grantee:
    return Grantee(GranteeKind.USER, name)


def unique(name: str) -> str:
    """``name`` with a short random tail, so tests sharing a server never meet each other's collections."""
    return f"{name} {uuid.uuid4().hex[:4]}"


def family_site(tmp_path: Path) -> Iterator[Site]:
    """The site of a family, its database closed afterwards (the body of a ``site`` fixture)."""
    write_users(tmp_path / "users", USERS)
    (tmp_path / "groups").write_text("staff: dave erin\n")
    site = Site(Settings(collections_folder=str(tmp_path / "collections"), database_path=str(tmp_path / "db.sqlite"),
                         groups_file=str(tmp_path / "groups"), htpasswd_file=str(tmp_path / "users"),
                         rights_file=None))
    site.circles.create("family", ["alice"])
    site.circles.add_members("family", ["bob", "carol"], actor="alice")
    yield site
    site.db.close()
