"""A collection's properties are read once per version of their file (radicale_ext/plugins/storage.py,
``ItemFiles.get_meta``): a change through WebDAV, an edit by hand in place (same size, same inode) and a
file put in place by hand are each seen by the next request of a running server."""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import quote

from .. import dav_kit as dav
from ..server import Server

CAL_NAME = "Familie Müller 家庭 🎉"
CAL = "/alice/" + quote(CAL_NAME) + "/"


def name_of(server: Server) -> str | None:
    answer = server.request("PROPFIND", CAL, "alice", dav.PROPFIND_NAME, headers={"Depth": "0"})
    assert answer.status_code == 207, answer.text
    return dav.found_prop(dav.responses(answer.content)[0][1], "{DAV:}displayname")


def test_every_change_of_the_properties_file_is_seen_at_once(fresh_server: Server) -> None:
    assert fresh_server.request("MKCALENDAR", CAL, "alice").status_code == 201
    props = fresh_server.root / "data" / "collections" / "collection-root" / "alice" / CAL_NAME / ".Radicale.props"
    answer = fresh_server.request("PROPPATCH", CAL, "alice", dav.PROPPATCH_NAME.format(name="Familie Müller"))
    assert answer.status_code == 207
    assert name_of(fresh_server) == "Familie Müller"

    inode = props.stat().st_ino
    text = props.read_text(encoding="utf-8")
    edited = text.replace("\\u00fc", "\\u00f6")   # ü to ö as Radicale's JSON writes them: the same length
    assert edited != text and len(edited) == len(text)
    with open(props, "r+", encoding="utf-8") as file:
        file.write(edited)
    assert props.stat().st_ino == inode
    assert name_of(fresh_server) == "Familie Möller"

    replaced = json.loads(edited) | {"D:displayname": "家庭 日历"}
    new = Path(str(props) + ".new")
    new.write_text(json.dumps(replaced), encoding="utf-8")
    os.replace(new, props)
    assert name_of(fresh_server) == "家庭 日历"
    assert fresh_server.request("PROPPATCH", CAL, "alice", dav.PROPPATCH_NAME.format(name="Oma &amp; Opa 👵")
                                ).status_code == 207
    assert name_of(fresh_server) == "Oma & Opa 👵"
