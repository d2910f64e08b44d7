"""Where the server connects (issue 13, item 18): a push resource or a webhook on the server's own
machine or network is refused when it is registered and again when a notice is delivered, unless the
admin allows it with ``[hook] notices_outbound_allow``.

Each test has a local receiver on 127.0.0.1 that counts connections: a refused destination must
never reach it, however the address is spelled."""

from __future__ import annotations

import configparser
import json
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from radicale_ext.base.errors import ExtError
from radicale_ext.notices.channels.http import post
from radicale_ext.notices.outbound import AllowList, Outbound, RefusedDestination
from radicale_ext.notices.settings import NoticeSettings

from ..notice_kit import NS, Receiver, UserAgent, notice_server, put_event, shared, worker_of
from ..server import Server

XML = {"Content-Type": "application/xml; charset=utf-8"}

# every way of writing "this machine" that the resolver turns into a loopback or unspecified address
LOOPBACK_SPELLINGS = ("127.0.0.1", "localhost", "[::1]", "0.0.0.0", "127.1", "2130706433", "0x7f000001",
                      "0177.0.0.1", "0x7f.1", "127.000.000.001", "0", "[::]", "[::ffff:127.0.0.1]",
                      "[::ffff:7f00:1]")
# addresses inside some network, never a push service on the Internet
INTERNAL_ADDRESSES = ("10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "224.0.0.1",
                      "255.255.255.255", "240.0.0.1", "[fe80::1]", "[fd00::1]", "[ff02::1]", "[::127.0.0.1]",
                      "[64:ff9b::7f00:1]", "[2002:7f00:1::]", "[2001:db8::1]")
# what the tests' own receivers need, and no more
LOOPBACK_ALLOWED = "127.0.0.0/8, ::1, ::, 0.0.0.0, ::ffff:127.0.0.0/104"


def without_allow_list(srv: Server) -> None:
    """The admin removes ``notices_outbound_allow`` (the worker reads the config anew)."""
    set_hook_option(srv, "notices_outbound_allow", None)


def set_hook_option(srv: Server, name: str, value: str | None) -> None:
    parser = configparser.RawConfigParser()
    parser.read(srv.config)
    if value is None:
        parser.remove_option("hook", name)
    else:
        parser.set("hook", name, value)
    with open(srv.config, "w") as f:
        parser.write(f)


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory, sharing_database: str) -> Iterator[Server]:
    """A server as installed: no allow-list (http allowed, so only the address decides)."""
    server = notice_server(tmp_path_factory.mktemp("strict"), notices_outbound_allow="").start()
    yield server
    server.stop()


def register(srv: Server, path: str, user: str, endpoint: str):
    return srv.request("POST", path, user, UserAgent().register_body(endpoint), headers=XML)


def devices(srv: Server, user: str) -> list[dict]:
    return json.loads(srv.ok("--json", "notices", "show", acting_as=user))[0]["push_devices"]


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_push_registration_to_this_machine_is_refused(strict: Server, host: str) -> None:
    path = shared(strict, f"loop{LOOPBACK_SPELLINGS.index(host)}", "bob")
    with Receiver() as receiver:
        port = receiver.url.rsplit(":", 1)[1]
        r = register(strict, path, "alice", f"http://{host}:{port}/device")
        assert r.status_code == 403, r.text
        assert ET.fromstring(r.content).find("P:invalid-subscription", NS) is not None
        assert "notices_outbound_allow" in r.text and "does not connect" in r.text
        put_event(strict, "bob", f"{path}e.ics", "e", "Nothing for the loopback")
        worker_of(strict).run_until_idle()
        assert receiver.requests == []
    assert [d for d in devices(strict, "alice") if d["collection"] == path] == []


@pytest.mark.parametrize("host", INTERNAL_ADDRESSES)
def test_push_registration_to_internal_networks_is_refused(strict: Server, host: str) -> None:
    path = shared(strict, f"internal{INTERNAL_ADDRESSES.index(host)}")
    r = register(strict, path, "alice", f"https://{host}/device")
    assert r.status_code == 403, r.text
    assert ET.fromstring(r.content).find("P:invalid-subscription", NS) is not None
    assert "does not connect" in r.text


def test_a_push_resource_whose_host_cannot_be_found_is_refused(strict: Server) -> None:
    path = shared(strict, "nowhere")
    r = register(strict, path, "alice", "https://push.example.invalid/device")
    assert r.status_code == 403 and ET.fromstring(r.content).find("P:invalid-subscription", NS) is not None
    assert "cannot be found" in r.text


@pytest.mark.parametrize("host", ("localhost", "127.1", "2130706433", "0.0.0.0", "[::1]", "[::ffff:127.0.0.1]",
                                  "10.0.0.5", "169.254.169.254"))
def test_a_webhook_on_an_internal_address_is_refused_by_the_cli(strict: Server, host: str) -> None:
    before = strict.ok("--json", "notices", "show", acting_as="carol")
    result = strict.cli("notices", "webhook", f"http://{host}:8080/hook", acting_as="carol")
    assert result.code == 1 and result.err.count("\n") == 1, result.err
    assert "does not connect" in result.err and "notices_outbound_allow" in result.err
    assert strict.ok("--json", "notices", "show", acting_as="carol") == before


def test_deliveries_registered_while_allowed_are_refused_once_the_allow_list_is_gone(tmp_path: Path) -> None:
    srv = notice_server(tmp_path / "was-allowed", notices_outbound_allow=LOOPBACK_ALLOWED).start()
    hosts = ("localhost", "127.1", "2130706433", "0.0.0.0", "[::1]", "[::ffff:127.0.0.1]")
    people = ("bob", "carol", "dave", "erin", "frank", "grace")
    try:
        path = shared(srv, "fussball-verein", *people)
        with Receiver() as receiver:
            port = receiver.url.rsplit(":", 1)[1]
            for n, host in enumerate(hosts):
                r = register(srv, "/bob/fussball-verein~alice/", "bob", f"http://{host}:{port}/push{n}")
                assert r.status_code == 201, (host, r.text)
                srv.ok("notices", "webhook", f"http://{host}:{port}/hook{n}", acting_as=people[n])
            assert len(devices(srv, "bob")) == len(hosts)

            without_allow_list(srv)
            put_event(srv, "alice", f"{path}match.ics", "match", "Spiel gegen München")
            progress = worker_of(srv).run_until_idle()
            assert receiver.requests == [], "no connection reached the local receiver"
            assert (progress.delivered, progress.failed) == (0, 2 * len(hosts))
        dead = json.loads(srv.ok("--json", "notices", "dead"))
        assert sorted(r["channel"] for r in dead) == ["push"] * len(hosts) + ["webhook"] * len(hosts)
        for row in dead:
            assert row["attempts"] == 1, row
            assert "does not connect" in row["error"] and "notices_outbound_allow" in row["error"], row
    finally:
        srv.stop()


def test_the_allow_list_lets_an_internal_push_gateway_through(tmp_path: Path) -> None:
    srv = notice_server(tmp_path / "gateway", notices_outbound_allow="localhost").start()
    try:
        path = shared(srv, "family", "bob")
        with Receiver() as gateway:
            port = gateway.url.rsplit(":", 1)[1]
            assert register(srv, "/bob/family~alice/", "bob", f"http://localhost:{port}/by-name").status_code == 201
            refused = register(srv, "/bob/family~alice/", "bob", f"http://127.0.0.1:{port}/by-address")
            assert refused.status_code == 403, "only the name the admin allowed"
            put_event(srv, "alice", f"{path}e.ics", "e", "Abendessen")
            assert worker_of(srv).run_until_idle().delivered == 1
            assert [r.path for r in gateway.requests] == ["/by-name"]
    finally:
        srv.stop()


def test_a_misspelt_or_bad_allow_list_stops_the_server(tmp_path: Path) -> None:
    for name, value, expected in (
            ("notices_outbound_alow", "10.0.0.5", "unknown option 'notices_outbound_alow' in section [hook]"),
            ("notices_outbound_allow", "10.0.0.0/33", "notices_outbound_allow = '10.0.0.0/33'")):
        server = notice_server(tmp_path / name, **{name: value})
        with pytest.raises(RuntimeError, match="server exited with 1") as refused:
            server.start()
        assert expected in str(refused.value)


# -- the core, with an injected resolver ---------------------------------------------------


class Resolver:
    """A DNS whose answer changes after the first lookup (DNS rebinding)."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.calls = 0

    def __call__(self, host, port, *args, **kwargs):
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        family = socket.AF_INET6 if ":" in answer else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (answer, port))]


def test_delivery_connects_to_the_address_it_checked_not_a_second_lookup() -> None:
    # the name first resolves to an allowed address, then to one where nothing listens
    resolver = Resolver("127.0.0.1", "127.0.0.2")
    outbound = Outbound(AllowList.parse("127.0.0.1"), https_only=False, resolve=resolver)
    with Receiver() as receiver:
        port = receiver.url.rsplit(":", 1)[1]
        destination = outbound.check(f"http://push.rebinding.example:{port}/x", what="push resource")
        answer = post(destination, b"{}", {"Content-Type": "application/json"}, timeout=5)
        assert answer.status == 201
        [got] = receiver.requests
    assert resolver.calls == 1
    assert got.headers["host"] == f"push.rebinding.example:{port}", "the URL's host name, not the address"


def test_a_name_that_rebinds_to_an_internal_address_is_refused() -> None:
    outbound = Outbound(AllowList.parse(""), https_only=False, resolve=Resolver("127.0.0.1"))
    with pytest.raises(RefusedDestination, match="127.0.0.1"):
        outbound.check("https://push.rebinding.example/x", what="push resource")


def test_one_internal_address_among_public_ones_is_enough_to_refuse() -> None:
    def both(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.1", port))]
    with pytest.raises(RefusedDestination, match="10.0.0.1"):
        Outbound(AllowList.parse(""), https_only=True, resolve=both).check("https://mixed.example/x", what="webhook")


@pytest.mark.parametrize("host", [h.strip("[]") for h in LOOPBACK_SPELLINGS + INTERNAL_ADDRESSES])
def test_every_spelling_is_refused_by_the_core(host: str) -> None:
    url = f"https://[{host}]/x" if ":" in host else f"https://{host}/x"
    with pytest.raises(RefusedDestination):
        Outbound(AllowList.parse(""), https_only=True).check(url, what="webhook URL")


def test_public_addresses_pass_and_the_allow_list_reads_networks_addresses_and_names() -> None:
    public = Outbound(AllowList.parse(""), https_only=True).check("https://93.184.215.14/x", what="webhook URL")
    assert [str(a) for a in public.addresses] == ["93.184.215.14"] and public.port == 443
    allow = AllowList.parse("10.0.0.5/32, fd00::/8 push.internal.example,Gateway.Example.")
    assert allow.allows_address("10.0.0.5") and not allow.allows_address("10.0.0.6")
    assert allow.allows_address("fd12::1") and allow.allows_name("push.internal.example")
    assert allow.allows_name("GATEWAY.example.") and not allow.allows_name("other.example")
    for bad in ("10.0.0.0/33", "push_gateway", "ex ample/8", "http://x.example"):
        with pytest.raises(ExtError, match="neither"):
            AllowList.parse(bad)


def test_the_option_is_read_with_the_others() -> None:
    settings = NoticeSettings.from_options({"notices_outbound_allow": "10.0.0.5, push.internal.example"},
                                           database_path="/tmp/x.sqlite")
    assert settings.outbound_allow.allows_address("10.0.0.5")
    assert NoticeSettings.from_options({}, database_path="/tmp/x.sqlite").outbound_allow == AllowList.parse("")
