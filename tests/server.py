"""A real radicale-ext server on 127.0.0.1, started as its own process.

Tests speak HTTP to it; the CLI is run against the same config file.
"""

from __future__ import annotations

import configparser
import contextlib
import datetime
import http.client
import io
import json
import os
import random
import select
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import types
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import bcrypt
import requests
import urllib3

from radicale_ext import cli
from radicale_ext.base.postgres import translate

from . import forked_start

PROJECT = Path(__file__).resolve().parent.parent
# Server processes forked from one that imported the server's modules (tests/forked_start.py): set by
# tests/conftest.py for the test suite; the benchmarks, which measure whole processes, start new ones.
FORKED_STARTS = False
USERS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace")


def password(user: str) -> str:
    return f"pw-{user}"


def listens(pid: int, port: int) -> bool:
    """Whether process ``pid`` itself listens on 127.0.0.1:``port`` (not merely whether something answers
    there: that could be another test's server)."""
    wanted = f"0100007F:{port:04X}"
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == wanted and fields[3] == "0A":   # 0A: LISTEN
            inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return False
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd) in inodes:
                    return True
    return False


# How long a server is given to listen.  A healthy start takes 1-2 s; a CI machine under load was once seen
# to leave several starts without a line of log for 30 s, so the wait is long and, when it ends, says why.
START_PATIENCE = 120.0


def wait_until_listening(server: Server, seconds: float = START_PATIENCE) -> None:
    """Until the server's own process listens on its port; RuntimeError with its log if it exits or never does
    (then with what the process was doing: :func:`stuck_report`)."""
    assert server.proc is not None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"server exited with {server.proc.returncode}:\n{server.log()}")
        if listens(server.proc.pid, server.port):
            return
        time.sleep(0.05)
    raise did_not_start(server, seconds)


def did_not_start(server: Server, seconds: float) -> RuntimeError:
    """The error of a server that did not become ready within ``seconds``: :func:`stuck_report`, then its log."""
    assert server.proc is not None
    report = stuck_report(server.proc)
    return RuntimeError(f"server did not start in {seconds:.0f} s; {report}\nits log:\n{server.log()}")


def stuck_report(proc: subprocess.Popen | forked_start.ForkedProcess) -> str:
    """What a process that should have been ready was doing: its state, kernel wait channel and processor
    time, the machine's load; then SIGABRT, on which a Python started with ``PYTHONFAULTHANDLER`` (as
    :func:`server_environment` starts servers, and a forked server enables it itself) writes every
    thread's stack to its log."""
    facts = [f"load average {os.getloadavg()}"]
    with contextlib.suppress(OSError):
        status = dict(line.split(":", 1) for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines()
                      if ":" in line)
        facts.append(f"state {status.get('State', '?').strip()}")
        facts.append(f"waiting in {Path(f'/proc/{proc.pid}/wchan').read_text() or '-'}")
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        facts.append(f"processor time {(int(fields[11]) + int(fields[12])) / ticks:.2f} s")
    if proc.poll() is None:
        proc.send_signal(signal.SIGABRT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
    return ", ".join(facts)


def server_environment() -> dict[str, str]:
    """The environment a test's server process starts with: the tests' own, and Python's fault handler on
    (a stack dump on SIGABRT, for :func:`stuck_report`)."""
    return {**os.environ, "PYTHONFAULTHANDLER": "1"}


_LOWEST_PORT = 10000
_handed_out: set[int] = set()


def _ephemeral_ports() -> range:
    """The ports the kernel gives outgoing connections (``ip_local_port_range``)."""
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    return range(low, high + 1)


def _my_ports() -> range:
    """This test process's share of the ports below the kernel's ephemeral range: each pytest-xdist worker
    has a slice of its own, so two workers never pick the same port."""
    top = min(_ephemeral_ports().start, 65536)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    index = int(worker) if worker.isdigit() else 0
    share = (top - _LOWEST_PORT) // max(count, 1)
    start = _LOWEST_PORT + index * share
    return range(start, start + share)


def free_port() -> int:
    """A port nothing listens on, for a server a test starts later.

    Not one the kernel picks (``bind(0)``): those come from the ephemeral range, which every outgoing
    connection draws its local port from, so a port chosen now could be some client's by the time its server
    binds it (seen in CI: an SMTP server between two tests of a module, a server's own port). Below that
    range, within this worker's slice, and never the same port twice in one process."""
    ports = _my_ports()
    for _ in range(200):
        port = random.choice(ports)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port in {ports.start}-{ports.stop - 1}")


def write_config(root: Path, port: int, **overrides: dict[str, str]) -> Path:
    """The embedded default config, with this server's port and folders."""
    parser = configparser.RawConfigParser()
    parser.read(PROJECT / "config" / "radicale.ini")
    parser.set("server", "hosts", f"127.0.0.1:{port}")
    parser.set("auth", "htpasswd_filename", str(root / "data" / "users"))
    parser.set("auth", "delay", "0")
    parser.set("rights", "file", str(root / "rights"))
    parser.set("group", "htgroup_filename", str(root / "data" / "groups"))
    parser.set("storage", "filesystem_folder", str(root / "data" / "collections"))
    parser.set("sharing", "database_path", str(root / "data" / "sharing.sqlite"))
    parser.set("logging", "level", "warning")
    for section, options in overrides.items():
        if not parser.has_section(section):
            parser.add_section(section)
        for key, value in options.items():
            parser.set(section, key, value)
    path = root / "radicale.ini"
    with open(path, "w") as f:
        parser.write(f)
    return path


def write_users(path: Path, users: tuple[str, ...] = USERS) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{u}:{bcrypt.hashpw(password(u).encode(), bcrypt.gensalt(4)).decode()}" for u in users]
    path.write_text("\n".join(lines) + "\n")


@dataclass
class CliResult:
    code: int
    out: str
    err: str


class _Wire(threading.local):
    """One kept-alive connection per thread to one server (http.client: 1.1 instead of requests' 2.3-2.9 ms
    of processor time per request, with requests still preparing it)."""

    connection: http.client.HTTPConnection | None = None


def _answer_of(wire: _Wire, port: int, prepared: requests.PreparedRequest, jar: requests.cookies.RequestsCookieJar,
               timeout: float) -> requests.Response:
    """``prepared`` sent as requests would send it, and its answer as the ``requests.Response`` requests would
    build (headers, decoded content, encoding, cookies into ``jar``); a failure is requests' exception."""
    connection = wire.connection
    if connection is not None and connection.sock is not None and select.select([connection.sock], [], [], 0)[0]:
        connection.close()   # closed by the server since (its idle timeout, a restart): a new one
    if connection is None:
        connection = wire.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    began = time.perf_counter()
    try:
        connection.request(prepared.method or "GET", prepared.path_url, body=prepared.body,
                           headers=dict(prepared.headers))
        answer = connection.getresponse()
        raw = answer.read()
    except TimeoutError as e:
        connection.close()
        raise requests.exceptions.ReadTimeout(e, request=prepared) from e
    except (OSError, http.client.HTTPException) as e:
        connection.close()
        raise requests.exceptions.ConnectionError(e, request=prepared) from e
    headers = urllib3.HTTPHeaderDict()
    for name, value in answer.getheaders():
        headers.add(name, value)
    response = requests.Response()
    response.status_code, response.reason = answer.status, answer.reason
    response.headers = requests.structures.CaseInsensitiveDict(headers)
    response.raw = urllib3.HTTPResponse(body=b"", headers=headers, status=answer.status, preload_content=False)
    coding = headers.get("Content-Encoding", "").lower() if raw else ""   # a HEAD's answer has none to decode
    response._content = (zlib.decompress(raw, 16 + zlib.MAX_WBITS) if coding == "gzip" else
                         zlib.decompress(raw) if coding == "deflate" else raw)
    response.encoding = requests.utils.get_encoding_from_headers(response.headers)
    response.url, response.request = prepared.url or "", prepared
    response.elapsed = datetime.timedelta(seconds=time.perf_counter() - began)
    if "Set-Cookie" in headers:
        requests.cookies.extract_cookies_to_jar(jar, prepared, types.SimpleNamespace(_original_response=answer))
    return response


def loopback_session() -> requests.Session:
    """An HTTP session for our servers on 127.0.0.1: it never asks the environment for proxies or ~/.netrc
    (requests does for every request otherwise: a fifth of its processor time per request here)."""
    session = requests.Session()
    session.trust_env = False
    return session


@dataclass
class Server:
    root: Path
    port: int
    config: Path
    proc: subprocess.Popen | forked_start.ForkedProcess | None = None
    session: requests.Session = field(default_factory=loopback_session)
    # more than 1: ``radicale-ext serve --processes N``, a parent and N server processes on one address; or
    # ``auto:N``, one process and up to N - 1 helpers under load (plugins/helpers.py)
    processes: int | str = 1
    serve_args: tuple[str, ...] = ()   # more of ``radicale-ext serve``'s arguments, where processes is not 1
    _wire: _Wire = field(default_factory=_Wire, repr=False, compare=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def rights_file(self) -> Path:
        return self.root / "rights"

    @property
    def groups_file(self) -> Path:
        return self.root / "data" / "groups"

    def start(self) -> Server:
        if self.processes != 1:
            return self._start_several(open(self.root / "server.log", "ab"))
        if FORKED_STARTS and forked_start.may_fork():
            self.proc = forked_start.start(self.config, self.root, self.root / "server.log")
        else:
            with open(self.root / "server.log", "ab") as log:
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "radicale_ext.plugins.server", "--config", str(self.config)],
                    cwd=self.root, stdout=log, stderr=subprocess.STDOUT, env=server_environment())
        wait_until_listening(self)
        return self

    def _start_several(self, log: IO[bytes]) -> Server:
        """``radicale-ext serve --processes N``, started when it says READY=1 as systemd hears it (a datagram
        to $NOTIFY_SOCKET): every server process serves."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as told:
            name = f"radicale-ext-test-{os.getpid()}-{self.port}"
            told.bind("\0" + name)
            told.settimeout(0.2)
            self.proc = subprocess.Popen(
                [console_script(), "--config", str(self.config), "serve", "--processes", str(self.processes),
                 *self.serve_args],
                cwd=self.root, stdout=log, stderr=subprocess.STDOUT,
                env={**server_environment(), "NOTIFY_SOCKET": "@" + name})
            deadline = time.monotonic() + START_PATIENCE
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
                try:
                    said = told.recv(4096).decode().splitlines()
                except TimeoutError:
                    continue
                if "READY=1" in said:
                    # a connection per request: each is accepted by whichever process takes it first
                    self.session.headers["Connection"] = "close"
                    return self
        raise did_not_start(self, START_PATIENCE)

    def children(self) -> list[int]:
        """The pids of the server processes the parent started (``processes`` > 1), as /proc lists them."""
        return children_of(self.proc.pid) if self.proc is not None else []

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    @property
    def sharing_dsn(self) -> str:
        """``[storage] postgresql_dsn`` of this server: its sharing database on PostgreSQL, "" for SQLite."""
        parser = configparser.RawConfigParser()
        parser.read(self.config)
        return parser.get("storage", "postgresql_dsn", fallback="")

    def sharing_db(self) -> sqlite3.Connection | PostgresConnection:
        """A connection to this server's sharing database, whichever engine, speaking SQLite's dialect as the
        stores do (``with`` commits, as sqlite3's does, and does not close)."""
        dsn = self.sharing_dsn
        if dsn:
            return PostgresConnection(dsn)
        return sqlite3.connect(self.root / "data" / "sharing.sqlite")

    def sharing_rows(self, sql: str, params: tuple = ()) -> list[dict]:
        """Rows of the sharing database as dictionaries."""
        conn = self.sharing_db()
        try:
            cur = conn.execute(sql, params)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        finally:
            conn.close()

    def log(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def request(self, method: str, path: str, user: str | None = None, body: str | bytes | None = None,
                headers: dict[str, str] | None = None, **kwargs) -> requests.Response:
        """What ``self.session.request`` answers; a plain request (no cookies kept, no extra arguments, a
        connection kept alive) is sent on this thread's own connection, as requests would send it."""
        auth = (user, password(user)) if user else None
        data = body.encode() if isinstance(body, str) else body
        if kwargs or self.session.cookies or self.session.headers.get("Connection") == "close":
            return self.session.request(method, self.url + path, auth=auth, data=data,
                                        headers=headers or {}, allow_redirects=False, timeout=30, **kwargs)
        prepared = self.session.prepare_request(requests.Request(method, self.url + path, headers=headers or {},
                                                                 data=data, auth=auth))
        return _answer_of(self._wire, self.port, prepared, self.session.cookies, 30)

    def cli(self, *args: str, acting_as: str | None = None) -> CliResult:
        """Run the radicale-ext CLI in this process against this server's config."""
        argv = ["--config", str(self.config)]
        if acting_as:
            argv += ["--as", acting_as]
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main([*argv, *args])
            except SystemExit as e:
                code = int(e.code or 0)
        return CliResult(code, out.getvalue(), err.getvalue())

    def ok(self, *args: str, acting_as: str | None = None) -> str:
        result = self.cli(*args, acting_as=acting_as)
        assert result.code == 0, f"radicale-ext {' '.join(args)} failed: {result.err}"
        return result.out

    def cli_process(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        """The installed console script, as an admin types it."""
        return subprocess.run([console_script(), "--config", str(self.config), *args], input=stdin,
                              capture_output=True, text=True, cwd=self.root, timeout=60)

    def worker_process(self, name: str, *extra: str) -> subprocess.Popen:
        """``radicale-ext worker --name NAME`` on this server's config, running on its own (as on a host of its
        own); its output goes to ``worker-NAME.log`` beside the config."""
        log = open(self.root / f"worker-{name}.log", "ab")
        return subprocess.Popen([console_script(), "--config", str(self.config), "worker", "--name", name, *extra],
                                cwd=self.root, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})


def children_of(pid: int) -> list[int]:
    """The running processes whose parent is ``pid`` (from /proc/PID/stat; not a zombie, which has ended)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, parent = (entry / "stat").read_text().rpartition(")")[2].split()[:2]
        except OSError:   # ended meanwhile
            continue
        if int(parent) == pid and state != "Z":
            found.append(int(entry.name))
    return sorted(found)


def connections_of(pids: list[int], port: int) -> tuple[int, ...]:
    """How many established connections to ``port`` of 127.0.0.1 each of ``pids`` holds (/proc/net/tcp and the
    processes' descriptors)."""
    established = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":   # local port, ESTABLISHED
            established.add(fields[9])   # the socket's inode
    counts = []
    for pid in pids:
        held = 0
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    held += target.startswith("socket:[") and target[8:-1] in established
        counts.append(held)
    return tuple(counts)


def console_script() -> str:
    """The installed ``radicale-ext`` command of this environment."""
    return shutil.which("radicale-ext", path=os.path.dirname(sys.executable)) or "radicale-ext"


class PostgresConnection:
    """sqlite3's connection, as far as the tests use it, on a PostgreSQL sharing database."""

    def __init__(self, dsn: str) -> None:
        import psycopg

        self._conn = psycopg.connect(dsn)

    def execute(self, sql: str, params: tuple | list = ()):  # noqa: ANN201 - a psycopg cursor
        return self._conn.execute(translate(sql, {}), params)

    def executemany(self, sql: str, rows) -> None:  # noqa: ANN001
        self._conn.cursor().executemany(translate(sql, {}), list(rows))

    def commit(self) -> None:
        self._conn.commit()

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> PostgresConnection:
        return self

    def __exit__(self, kind, value, traceback) -> None:  # noqa: ANN001
        if kind is None:
            self._conn.commit()
        else:
            self._conn.rollback()


new_sharing_database: Callable[[], str] | None = None
"""Set by the ``sharing_database`` fixture (tests/conftest.py) while a module runs on PostgreSQL: makes a new,
empty database and returns its DSN, which each server made then gets as ``[storage] postgresql_dsn``."""


def make_server(root: Path, users: tuple[str, ...] = USERS, processes: int | str = 1,
                **overrides: dict[str, str]) -> Server:
    root.mkdir(parents=True, exist_ok=True)
    if new_sharing_database is not None and "postgresql_dsn" not in overrides.get("storage", {}):
        overrides = {**overrides, "storage": {**overrides.get("storage", {}), "postgresql_dsn": new_sharing_database()}}
    shutil.copy(PROJECT / "config" / "rights", root / "rights")
    write_users(root / "data" / "users", users)
    (root / "data" / "groups").write_text("")
    port = free_port()
    return Server(root=root, port=port, config=write_config(root, port, **overrides), processes=processes)


def second_process(first: Server, root: Path, **hook: str) -> Server:
    """Another server process on ``first``'s data (its folder or its database): the same config but the port
    (and the ``[hook]`` options given), with its own log in ``root``; not started."""
    parser = configparser.RawConfigParser()
    parser.read(first.config)
    port = free_port()
    parser.set("server", "hosts", f"127.0.0.1:{port}")
    for key, value in hook.items():
        parser.set("hook", key, value)
    root.mkdir(parents=True, exist_ok=True)
    config = root / "radicale.ini"
    with open(config, "w") as f:
        parser.write(f)
    return Server(root=root, port=port, config=config)


@contextlib.contextmanager
def servers_on_one_database(root: Path, dsn: str, count: int = 3, users: tuple[str, ...] = USERS,
                            **overrides: dict[str, str]) -> Iterator[list[Server]]:
    """``count`` servers, each in a folder of its own as on a host of its own, on one PostgreSQL database
    (``[storage] postgresql_dsn``: items, collections and the sharing database), on different ports of
    127.0.0.1; stopped afterwards."""
    storage = {"postgresql_dsn": dsn, "postgresql_pool_size": "4", **overrides.pop("storage", {})}
    servers = [make_server(root / f"host{n}", users, storage=storage, **overrides) for n in range(count)]
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            server.stop()


class AnyServer:
    """A client behind a load balancer: its own connections, each request to a random one of the servers.
    ``request`` has ``Server.request``'s signature, so the helpers of tests/dav_kit.py take it."""

    def __init__(self, servers: list[Server], seed: int) -> None:
        self.servers = servers
        self.rng = random.Random(seed)
        self.session = loopback_session()
        if any(server.processes != 1 for server in servers):  # a connection per request, as Server.request
            self.session.headers["Connection"] = "close"

    def request(self, method: str, path: str, user: str | None = None, body: str | bytes | None = None,
                headers: dict[str, str] | None = None) -> requests.Response:
        server = self.rng.choice(self.servers)
        auth = (user, password(user)) if user else None
        data = body.encode() if isinstance(body, str) else body
        return self.session.request(method, server.url + path, auth=auth, data=data, headers=headers or {},
                                    allow_redirects=False, timeout=60)


def stored_beforehand(server: Server, path: str, props: dict[str, str], items: dict[str, str] | None = None) -> None:
    """A collection already in the store before the server starts (restored from a backup, made before a rule
    existed), written where the server's storage keeps it: Radicale's folders, or PostgreSQL's tables."""
    dsn = server.sharing_dsn
    if not dsn:
        folder = server.root / "data" / "collections" / "collection-root" / path.strip("/")
        folder.mkdir(parents=True)
        (folder / ".Radicale.props").write_text(json.dumps(props), encoding="utf-8")
        for href, text in (items or {}).items():
            (folder / href).write_text(text, encoding="utf-8")
        return
    from radicale import item as radicale_item

    from radicale_ext.index.pg_items import NewItem, PgItems
    from radicale_ext.plugins.indexed_items import facts_of

    key = path.strip("/")
    new = []
    for href, text in (items or {}).items():
        item = radicale_item.Item(collection_path=key, text=text)
        item.prepare()
        new.append(NewItem(href, text, facts_of(item)))
    store = PgItems(dsn, pool_size=1)
    try:
        store.make_collection(key, props, items=new)
    finally:
        store.close()


@dataclass(frozen=True)
class StoredItem:
    """One item as the server's storage keeps it (a file, or a row on PostgreSQL), read through the core's
    collection store: what the tests compare byte for byte."""

    server: Server
    collection: str      # "/alice/家庭/"
    href: str

    def _data(self) -> bytes | None:
        from radicale_ext.site import Settings, Site

        found = Site.for_settings(Settings.from_ini(str(self.server.config))).collections.item_data(
            self.collection, self.href)
        return None if found is None else found[0]

    def exists(self) -> bool:
        return self._data() is not None

    def read_bytes(self) -> bytes:
        data = self._data()
        if data is None:
            raise FileNotFoundError(f"{self.collection}{self.href} is not stored")
        return data

    def read_text(self) -> str:
        return self.read_bytes().decode("utf-8")


def stored_item_names(server: Server, collection: str) -> list[str]:
    """The names of a collection's items as the server's storage keeps them (files or PostgreSQL)."""
    from radicale_ext.site import Settings, Site

    return Site.for_settings(Settings.from_ini(str(server.config))).collections.item_names(collection)
