"""A link's address has one spelling (issue 13, item 19): ``/.links//TOKEN.ics``, ``/.links/./TOKEN.ics``,
percent-encoded and other spellings that Radicale's path sanitising turns into a link's path open
nothing, and no log line (Radicale's request and response lines, its debug dumps of headers,
waitress's, ours) holds the secret, however the path was spelled.

Requests are sent with http.client, which sends a request target exactly as written (requests and
urllib3 remove dot segments before sending)."""

from __future__ import annotations

import base64
import http.client
import io
import logging
from collections.abc import Iterator
from urllib.parse import unquote

import pytest

import radicale_ext.plugins.handlers.links  # noqa: F401 - installs the log redaction, as the server does
from radicale_ext.links.tokens import ID_LENGTH, redact_tokens, spelled_as_given

from ..server import Server, make_server
from .test_links import anonymous, create_link, link_path, populate

TOKEN = "abcd1234" + "S3cr3t-s3cr3t_S3CR3T-secret_SECR"
SECRET = TOKEN[ID_LENGTH:]


def percent_encoded(text: str) -> str:
    return "".join(f"%{ord(c):02X}" for c in text)


def spellings(token: str, ext: str = ".ics") -> dict[str, str]:
    """Ways of writing a link's path that Radicale's sanitising (or waitress's decoding) makes into it."""
    return {
        "double slash": f"/.links//{token}{ext}",
        "dot segment": f"/.links/./{token}{ext}",
        "leading double slash": f"//.links/{token}{ext}",
        "dot-dot": f"/alice/../.links/{token}{ext}",
        "dot and slashes": f"/./.links/.//{token}{ext}",
        "%2E segment": f"/.links/%2E/{token}{ext}",
        "%2E in .links": f"/%2Elinks/{token}{ext}",
        "lower-case %2e": f"/%2elinks/{token}{ext}",
        "%2F for the slash": f"/.links%2F{token}{ext}",
        "percent-encoded secret": f"/.links/{token[:ID_LENGTH]}{percent_encoded(token[ID_LENGTH:])}{ext}",
        "percent-encoded extension": f"/.links/{token}%2E{ext[1:]}",
        "%2F%2F": f"/.links%2F%2F{token}{ext}",
        "absolute form": f"http://127.0.0.1/.links//{token}{ext}",
    }


def windows(secret: str, size: int = 8) -> list[str]:
    return [secret[i:i + size] for i in range(len(secret) - size + 1)]


def leaks(text: str, secret: str) -> list[str]:
    """Pieces of the secret (8 characters or more) in ``text``, also once percent-decoding is undone."""
    views = [text, unquote(text), unquote(unquote(text))]
    return [w for w in windows(secret) if any(w in view for view in views)]


def raw_request(server: Server, method: str, target: str, *, auth: str | None = None) -> tuple[int, str]:
    """One request whose target is sent byte for byte as given."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        headers = {}
        if auth:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{auth}:pw-{auth}".encode()).decode()
        conn.request(method, target, body=b"x" if method == "PUT" else None, headers=headers)
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


@pytest.fixture(scope="module")
def chatty(tmp_path_factory: pytest.TempPathFactory, sharing_database: str) -> Iterator[Server]:
    """A server that logs everything it can: debug level, request and response headers."""
    server = make_server(tmp_path_factory.mktemp("chatty"), logging={
        "level": "debug", "request_header_on_debug": "True", "response_header_on_debug": "True",
        "backtrace_on_debug": "True"}).start()
    try:
        yield populate(server)
    finally:
        server.stop()


@pytest.mark.parametrize("kind", list(spellings(TOKEN)))
def test_an_odd_spelling_of_a_link_opens_nothing(chatty: Server, kind: str) -> None:
    link = create_link(chatty, "alice/family")
    token = link_path(link["url"]).removeprefix("/.links/").removesuffix(".ics")
    target = spellings(token)[kind]
    status, body = raw_request(chatty, "GET", target)
    assert status == 404, (target, status, body[:200])
    assert "BEGIN:VCALENDAR" not in body and "exactly as it was given" in body
    assert raw_request(chatty, "HEAD", target)[0] == 404
    # the owner's QR code is not drawn for it either, and writes stay refused
    assert raw_request(chatty, "GET", target + "?qr=svg", auth="alice")[0] == 404
    assert raw_request(chatty, "PUT", target)[0] == 405
    # the spelling given out still works: the refusals were not counted as guesses
    assert anonymous(chatty, link["url"]).status_code == 200


def test_no_log_line_holds_the_secret_however_the_path_is_spelled(chatty: Server) -> None:
    link = create_link(chatty, "alice/family")
    token = link_path(link["url"]).removeprefix("/.links/").removesuffix(".ics")
    secret = token[ID_LENGTH:]
    before = len(chatty.log())
    for target in [link_path(link["url"]), *spellings(token).values(), f"/.links/%252E/{token}.ics",
                   f"/.links/{token}.ics/", f"/.links/{token}.ics?qr=svg"]:
        for method in ("GET", "PUT", "OPTIONS"):
            raw_request(chatty, method, target, auth="alice" if "qr=" in target else None)
    log = chatty.log()[before:]
    assert "Request header" in log and "REQUEST_URI" in log, "the debug dump of headers was on"
    assert f"/.links/{token[:ID_LENGTH]}..." in log, "the link's id stays, to tell links apart"
    assert leaks(log, secret) == []


# -- the core -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(spellings(TOKEN)))
def test_redaction_cuts_every_spelling(kind: str) -> None:
    target = spellings(TOKEN)[kind]
    lines = [f"GET request for {target!r} received from 127.0.0.1 using 'DAVx5' HTTP/1.1",
             f"GET response status for {target!r} in 0.002 seconds: 404 Not Found",
             f"Exception while serving {target}",
             f"{{'PATH_INFO': {unquote(target)!r},\n 'REQUEST_URI': {target!r},\n 'SERVER_PORT': '5232'}}"]
    for line in lines:
        assert leaks(redact_tokens(line), SECRET) == [], redact_tokens(line)


def test_redaction_keeps_the_id_the_quotes_and_the_rest_of_the_line() -> None:
    line = f"GET request for '/.links/{TOKEN}.ics' received from 127.0.0.1"
    assert redact_tokens(line) == "GET request for '/.links/abcd1234...' received from 127.0.0.1"
    assert redact_tokens(f"GET request for '/.links//{TOKEN}.ics' received") == (
        "GET request for '/.links/abcd1234...' received")
    assert redact_tokens("/.links/abc") == "/.links/abc"
    assert redact_tokens("3 links of alice; 100% done") == "3 links of alice; 100% done"
    with_space = f"GET request for '/.links/ {TOKEN}.ics' received"
    assert leaks(redact_tokens(with_space), SECRET) == [] and redact_tokens(with_space).endswith("' received")


def test_only_the_given_spelling_is_the_link() -> None:
    path = f"/.links/{TOKEN}.ics"
    assert spelled_as_given(path, path) and spelled_as_given(path + "?qr=svg", path)
    assert spelled_as_given("/dav" + path, path), "a reverse proxy's prefix"
    assert spelled_as_given(f"https://cal.example.org{path}", path), "the absolute form"
    for target in spellings(TOKEN).values():
        assert not spelled_as_given(target, path), target


def test_every_logger_is_redacted_not_only_radicales() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        target = spellings(TOKEN)["double slash"]
        logging.getLogger("waitress").error(f"Exception while serving {target}")  # as waitress does
        logging.getLogger("radicale_ext.links").warning("could not read %s", target)
        logging.getLogger("radicale").warning("GET request for %r received", target)
        try:
            raise ValueError(f"no such link {target}")
        except ValueError:
            logging.getLogger("waitress").exception("Exception while serving %s", target)
    finally:
        root.removeHandler(handler)
    text = stream.getvalue()
    assert text.count("/.links/abcd1234...") >= 4 and leaks(text, SECRET) == [], text
