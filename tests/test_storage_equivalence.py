"""Our storage answers as stock Radicale's multifilesystem does.

One seeded random sequence of PUT, DELETE, MOVE and PROPPATCH runs against a
stock ``python -m radicale`` and against ours; after every step the same
queries go to both and the answers are compared, multistatus bodies
normalised for order.  Values that differ by design between two servers (the
last-modified time, sync tokens, which start from random history) are left
out; our ctag is compared with stock Radicale's collection ETag of our own
folder instead (tests/test_item_index.py, ``stock_etag``).
"""

from __future__ import annotations

import random
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from .server import Server, free_port, make_server, write_users
from .test_item_index import event, our_ctag, stock_etag

CAL = "/alice/eq/"
ICS = {"Content-Type": "text/calendar; charset=utf-8"}
SKIPPED = {"{DAV:}getlastmodified", "{DAV:}sync-token", "{http://calendarserver.org/ns/}getctag"}

PROPFIND = """<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/><D:displayname/><D:resourcetype/><D:getcontenttype/></D:prop>
</D:propfind>"""
QUERY = """<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/><C:calendar-data/></D:prop>
  <C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">
    <C:time-range start="{start}" end="{end}"/>
  </C:comp-filter></C:comp-filter></C:filter>
</C:calendar-query>"""
PROPPATCH = """<?xml version="1.0" encoding="utf-8"?>
<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>{name}</D:displayname></D:prop></D:set>
</D:propertyupdate>"""


class StockServer(Server):
    """Stock Radicale (``python -m radicale``), owner_only rights, plain multifilesystem."""

    def start(self) -> StockServer:
        self.config.write_text(
            f"[server]\nhosts = 127.0.0.1:{self.port}\n[auth]\ntype = htpasswd\n"
            f"htpasswd_filename = {self.root / 'data' / 'users'}\nhtpasswd_encryption = bcrypt\ndelay = 0\n"
            f"[rights]\ntype = owner_only\n[storage]\nfilesystem_folder = {self.root / 'data' / 'collections'}\n"
            "[logging]\nlevel = warning\n")
        log = open(self.root / "server.log", "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "radicale", "--config", str(self.config)],
                                     cwd=self.root, stdout=log, stderr=subprocess.STDOUT)
        return self._wait()

    def _wait(self) -> StockServer:
        import socket
        import time
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, self.log()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(self.log())


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    root: Path = tmp_path_factory.mktemp("equivalence")
    ours = make_server(root / "ours").start()
    (root / "stock").mkdir()
    write_users(root / "stock" / "data" / "users", ("alice",))
    stock = StockServer(root=root / "stock", port=free_port(), config=root / "stock" / "radicale.ini").start()
    yield stock, ours
    ours.stop()
    stock.stop()


def normalised(body: bytes) -> dict[str, dict[str, str]]:
    """A multistatus as {href: {"status" or property: text}}, order-free."""
    responses: dict[str, dict[str, str]] = {}
    for response in ET.fromstring(body).findall("{DAV:}response"):
        href = response.findtext("{DAV:}href") or ""
        found: dict[str, str] = {"status": response.findtext("{DAV:}status") or ""}
        for propstat in response.findall("{DAV:}propstat"):
            status = propstat.findtext("{DAV:}status") or ""
            for prop in propstat.find("{DAV:}prop") or []:
                if prop.tag not in SKIPPED:
                    found[prop.tag] = status + " " + (prop.text or "").strip() + "".join(
                        sorted(child.tag for child in prop))
        responses[href] = found
    return responses


def answers(server: Server) -> dict[str, object]:
    got: dict[str, object] = {}
    for depth in ("0", "1"):
        r = server.request("PROPFIND", CAL, "alice", PROPFIND, headers={"Depth": depth})
        got[f"propfind {depth}"] = (r.status_code, normalised(r.content))
    r = server.request("REPORT", CAL, "alice", QUERY.format(start="20260101T000000Z", end="20260108T000000Z"),
                       headers={"Depth": "1"})
    got["calendar-query"] = (r.status_code, normalised(r.content))
    for n in range(4):
        r = server.request("GET", f"{CAL}e{n}.ics", "alice")
        got[f"get e{n}"] = (r.status_code, r.headers.get("ETag"), r.text if r.ok else "")
    return got


def random_step(rng: random.Random, step: int) -> tuple[str, str, str | None, dict[str, str]]:
    href = f"{CAL}e{rng.randrange(4)}.ics"
    kind = rng.choice(["put", "put", "put", "delete", "move", "proppatch"])
    if kind == "put":
        day = rng.randrange(1, 15)
        body = event(f"uid-{href}", f"step {step}").replace("20260105T", f"202601{day:02d}T")
        return "PUT", href, body, ICS
    if kind == "delete":
        return "DELETE", href, None, {}
    if kind == "move":
        to = f"{CAL}e{rng.randrange(4)}.ics"
        return "MOVE", href, None, {"Destination": to, "Overwrite": rng.choice(["T", "F"])}
    return "PROPPATCH", CAL, PROPPATCH.format(name=f"name {step}"), {}


def test_random_sequence_gets_the_same_answers(servers: tuple[Server, Server]) -> None:
    stock, ours = servers
    for server in servers:
        assert server.request("MKCALENDAR", CAL, "alice").status_code == 201
    rng = random.Random(8)
    succeeded: set[str] = set()
    for step in range(40):
        method, path, body, headers = random_step(rng, step)
        statuses = [server.request(method, path, "alice", body, headers=headers).status_code for server in servers]
        assert statuses[0] == statuses[1], (step, method, path, statuses)
        if statuses[0] < 300:
            succeeded.add(method)
        assert answers(stock) == answers(ours), (step, method, path)
        assert our_ctag(ours, CAL) == stock_etag(ours, CAL), (step, method, path)
    assert succeeded == {"PUT", "DELETE", "MOVE", "PROPPATCH"}, "the sequence no longer exercises every write"
