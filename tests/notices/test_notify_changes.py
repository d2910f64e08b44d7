"""CS:notify-changes (caldav-notifications section 5.3.4): a client mutes a calendar's change notices.

The property is per person, on any calendar they have (their own, or a
share through their mount), and it is the same choice as the command
line's ``notices mute`` / ``unmute`` and the Notices page's "Mute": set by one, read back by the others,
and honoured by the notice worker end to end.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from ..notice_kit import NS, FakeClock, change_texts, notice_server, put_event, worker_of
from ..server import Server
from ..web.page_kit import Browser

CALENDAR = "Fußball 🎉"
OWNER_PATH = f"/alice/{quote(CALENDAR)}/"
MOUNT = f"/bob/{quote(CALENDAR + '~alice')}/"
SUBSCRIBER_MOUNT = f"/carol/{quote(CALENDAR + '~alice')}/"
XML = {"Content-Type": "application/xml; charset=utf-8"}

# caldav-notifications 5.3.4: <!ELEMENT notify-changes (true|false)>
SET = """<?xml version="1.0" encoding="utf-8"?>
<D:propertyupdate xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">
  <D:set><D:prop><CS:notify-changes><CS:{value}/></CS:notify-changes></D:prop></D:set>
</D:propertyupdate>"""

REMOVE = """<?xml version="1.0" encoding="utf-8"?>
<D:propertyupdate xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">
  <D:remove><D:prop><CS:notify-changes/></D:prop></D:remove>
</D:propertyupdate>"""

# a client renaming its view and muting it in one request
RENAME_AND_MUTE = """<?xml version="1.0" encoding="utf-8"?>
<D:propertyupdate xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">
  <D:set><D:prop><D:displayname>Training (Müller)</D:displayname>
    <CS:notify-changes><CS:false/></CS:notify-changes></D:prop></D:set>
</D:propertyupdate>"""

PROPFIND = """<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">
  <D:prop><D:displayname/><CS:notify-changes/></D:prop>
</D:propfind>"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, sharing_database: str) -> Iterator[Server]:
    server = notice_server(tmp_path_factory.mktemp("notify-changes")).start()
    assert server.request("MKCALENDAR", OWNER_PATH, "alice").status_code == 201
    server.ok("share", "add", f"alice/{CALENDAR}", "--user", "bob", "--role", "collaborator")
    server.ok("share", "add", f"alice/{CALENDAR}", "--user", "carol", "--role", "subscriber")
    yield server
    server.stop()


def proppatch(srv: Server, path: str, user: str | None, body: str) -> ET.Element:
    r = srv.request("PROPPATCH", path, user, body, headers=XML)
    assert r.status_code == 207, (r.status_code, r.text)
    return ET.fromstring(r.content)


def statuses(answer: ET.Element) -> dict[str, str]:
    """{property: status} of a PROPPATCH answer."""
    found = {}
    for propstat in answer.iterfind("D:response/D:propstat", NS):
        for element in propstat.find("D:prop", NS):
            found[element.tag] = propstat.findtext("D:status", namespaces=NS)
    return found


def notify_changes(srv: Server, path: str, user: str, depth: str = "0") -> str | None:
    """"true" or "false" as PROPFIND answers CS:notify-changes on ``path``."""
    r = srv.request("PROPFIND", path, user, PROPFIND, headers={**XML, "Depth": depth})
    assert r.status_code == 207, r.text
    for response in ET.fromstring(r.content).findall("D:response", NS):
        if response.findtext("D:href", namespaces=NS) == path:
            for propstat in response.findall("D:propstat", NS):
                value = propstat.find("D:prop/CS:notify-changes", NS)
                if value is not None and propstat.findtext("D:status", namespaces=NS) == "HTTP/1.1 200 OK":
                    [child] = list(value)
                    return child.tag.split("}")[1]
    return None


def choices(srv: Server, user: str) -> list[dict]:
    return json.loads(srv.ok("--json", "notices", "show", "--user", user))[0]["choices"]


def muted_on_the_page(srv: Server, user: str) -> bool:
    """Whether the person's page for alice's calendar (/.my/notices/collection) has its "Mute" box ticked."""
    page = Browser(srv).logged_in(user).get(f"/notices/collection?collection={quote(f'/alice/{CALENDAR}/')}")
    assert page.status_code == 200, page.text[:300]
    [box] = re.findall(r'<input type="checkbox" id="muted"[^>]*>', page.text)
    return " checked" in box


def change_and_deliver(srv: Server, summary: str) -> None:
    put_event(srv, "alice", f"{OWNER_PATH}{quote(summary)}.ics", summary, summary)
    worker_of(srv, FakeClock()).run_until_idle()


def heard(srv: Server, user: str, summary: str) -> bool:
    return any(summary in text for text in change_texts(srv, user))


def test_a_sharee_mutes_the_calendar_from_the_client_and_hears_nothing(srv: Server) -> None:
    assert notify_changes(srv, MOUNT, "bob") == "true", "not set: notices are on (section 5.3.4)"
    assert statuses(proppatch(srv, MOUNT, "bob", SET.format(value="false"))) == \
        {"{http://calendarserver.org/ns/}notify-changes": "HTTP/1.1 200 OK"}
    assert notify_changes(srv, MOUNT, "bob") == "false"
    assert notify_changes(srv, MOUNT, "bob", depth="1") == "false"
    assert notify_changes(srv, "/bob/", "bob", depth="1") is None, "the home itself has no such property"
    assert notify_changes(srv, SUBSCRIBER_MOUNT, "carol") == "true", "per person: carol's is her own"
    assert notify_changes(srv, OWNER_PATH, "alice") == "true"
    assert {"collection": f"/alice/{CALENDAR}/", "channel": "notices", "timing": "off"} in choices(srv, "bob"), \
        "the same preference 'notices mute' sets"
    shown = srv.ok("notices", "show", "--user", "bob")
    assert f"/alice/{CALENDAR}/: muted" in shown
    assert muted_on_the_page(srv, "bob"), "bob's Notices page shows it muted, as he chose in his client"

    change_and_deliver(srv, "Spiel gegen Köln")
    assert heard(srv, "carol", "Spiel gegen Köln")
    assert not heard(srv, "bob", "Spiel gegen Köln"), "muted from the client: no change notice"

    proppatch(srv, MOUNT, "bob", SET.format(value="true"))
    assert notify_changes(srv, MOUNT, "bob") == "true"
    assert choices(srv, "bob") == []
    assert not muted_on_the_page(srv, "bob")
    change_and_deliver(srv, "Training")
    assert heard(srv, "bob", "Training")


def test_the_command_line_and_the_client_set_the_same_preference(srv: Server) -> None:
    srv.ok("notices", "mute", f"alice/{CALENDAR}", acting_as="carol")
    assert notify_changes(srv, SUBSCRIBER_MOUNT, "carol") == "false"
    proppatch(srv, SUBSCRIBER_MOUNT, "carol", REMOVE)  # removing it: back to the default, notices on
    assert notify_changes(srv, SUBSCRIBER_MOUNT, "carol") == "true"
    assert srv.cli("notices", "unmute", f"alice/{CALENDAR}", acting_as="carol").code == 1, "nothing left to unmute"


def test_the_owner_mutes_their_own_calendar(srv: Server) -> None:
    proppatch(srv, OWNER_PATH, "alice", SET.format(value="false"))
    assert notify_changes(srv, OWNER_PATH, "alice") == "false"
    put_event(srv, "bob", f"{MOUNT}owner-muted.ics", "owner-muted", "Elternabend")
    worker_of(srv, FakeClock()).run_until_idle()
    assert heard(srv, "carol", "Elternabend") and not heard(srv, "alice", "Elternabend")
    proppatch(srv, OWNER_PATH, "alice", SET.format(value="true"))
    assert notify_changes(srv, OWNER_PATH, "alice") == "true"


def test_with_everything_muted_a_client_turns_one_calendar_back_on(srv: Server) -> None:
    srv.ok("notices", "mute", acting_as="carol")
    assert notify_changes(srv, SUBSCRIBER_MOUNT, "carol") == "false", "muted with everything"
    proppatch(srv, SUBSCRIBER_MOUNT, "carol", SET.format(value="true"))
    assert notify_changes(srv, SUBSCRIBER_MOUNT, "carol") == "true"
    assert f"/alice/{CALENDAR}/: heard (though everything else is muted)" in \
        srv.ok("notices", "show", acting_as="carol")
    change_and_deliver(srv, "Sommerfest")
    assert heard(srv, "carol", "Sommerfest")
    srv.ok("notices", "unmute", acting_as="carol")
    proppatch(srv, SUBSCRIBER_MOUNT, "carol", REMOVE)
    assert choices(srv, "carol") == []


def test_renaming_and_muting_in_one_request(srv: Server) -> None:
    answer = proppatch(srv, MOUNT, "bob", RENAME_AND_MUTE)
    assert statuses(answer) == {"{DAV:}displayname": "HTTP/1.1 200 OK",
                                "{http://calendarserver.org/ns/}notify-changes": "HTTP/1.1 200 OK"}
    r = srv.request("PROPFIND", MOUNT, "bob", PROPFIND, headers={**XML, "Depth": "0"})
    assert "Training (Müller)" in r.text
    assert notify_changes(srv, MOUNT, "bob") == "false"
    r = srv.request("PROPFIND", OWNER_PATH, "alice", PROPFIND, headers={**XML, "Depth": "0"})
    assert "Training (Müller)" not in r.text, "bob's name is his own"
    proppatch(srv, MOUNT, "bob", SET.format(value="true"))


def test_a_rename_radicale_refuses_mutes_nothing(srv: Server) -> None:
    """PROPPATCH is all or nothing (RFC 4918 section 9.2): bob may not rename alice's calendar on her path,
    so his notify-changes in the same request is not set either."""
    r = srv.request("PROPPATCH", OWNER_PATH, "bob", RENAME_AND_MUTE, headers=XML)
    assert r.status_code == 403, r.text
    assert notify_changes(srv, MOUNT, "bob") == "true"


@pytest.mark.parametrize("value", ["<CS:maybe/>", "", "<CS:true/><CS:false/>", "yes"])
def test_a_value_other_than_true_or_false_is_refused(srv: Server, value: str) -> None:
    body = SET.replace("<CS:{value}/>", value)
    answer = proppatch(srv, MOUNT, "bob", body)
    assert statuses(answer) == {"{http://calendarserver.org/ns/}notify-changes": "HTTP/1.1 409 Conflict"}
    assert "CS:true or CS:false" in (answer.findtext("D:response/D:propstat/D:responsedescription",
                                                     namespaces=NS) or "")
    assert notify_changes(srv, MOUNT, "bob") == "true"


@pytest.mark.parametrize(("path", "user", "status"), [
    (OWNER_PATH, None, 401),
    (OWNER_PATH, "dave", 403),                    # someone else's calendar, not shared with dave
    (f"/dave/{quote(CALENDAR + '~alice')}/", "dave", 404),
    ("/bob/nothing-here/", "bob", 404),
])
def test_who_may_not_set_it(srv: Server, path: str, user: str | None, status: int) -> None:
    r = srv.request("PROPPATCH", path, user, SET.format(value="false"), headers=XML)
    assert r.status_code == status, r.text
    assert not [c for c in choices(srv, "dave") + choices(srv, "bob") if c["timing"] == "off"]


def test_not_in_allprop(srv: Server) -> None:
    r = srv.request("PROPFIND", MOUNT, "bob", headers={"Depth": "0"})
    assert r.status_code == 207 and "notify-changes" not in r.text
