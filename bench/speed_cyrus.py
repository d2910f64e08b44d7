"""Cyrus IMAP 3.6, the C CalDAV/CardDAV server, as one more server of bench/run_real.py.

Debian bookworm's packages (cyrus-imapd, cyrus-caldav, cyrus-admin, cyrus-clients, sasl2-bin), started
privately for one size of the run, as /work/shared/anchors/start_cyrus.sh does:

- its own ``imapd.conf`` and ``cyrus.conf`` in the server's folder under bench/work/ (configdirectory,
  spool, sockets, locks: all there; nothing is written elsewhere); ``cyrus.conf`` has one service,
  ``httpd`` on 127.0.0.1:port with the caldav and carddav modules, forked per connection as Debian's
  cyrus.conf has it (``prefork=0``, at most 100 children: more than the 32 clients of the mixed load);
- Basic authentication over plain HTTP, checked on every request against a private sasldb holding alice
  (the password tests/server.py gives her) and the admin ``cyrus`` (a random password);
- alice's mailbox (Cyrus makes her DAV homes on her first request once it exists) is created once with
  an IMAP CREATE by the admin, through a setup ``master`` whose only service is imapd on a UNIX socket
  in the folder (no TCP), stopped before the HTTP one starts;
- scheduling stays on but ``sendmail: /bin/true``: no iMIP mail can leave the machine.

Both masters start as root and run their services as the user ``cyrus``; each is a child of the
benchmark and is stopped by its PID (TERM, which stops its children; KILL after 10 s, and any child
left then by its PID).  The run's folder, with everything Cyrus wrote, is removed at the end of the run.

HTTP/1.1 answers of more than one write wait for the client's delayed ACK (Cyrus's httpd does not set
TCP_NODELAY): see ``speed_client`` (``Site.quick_ack``), which run_real.py turns on for every server.
"""

from __future__ import annotations

import imaplib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from run_foundation import ALICE, wait_until_listening

from tests.server import Server, free_port, password

PACKAGES = ("cyrus-imapd", "cyrus-caldav", "cyrus-admin", "cyrus-clients", "sasl2-bin")
INSTALL = "apt-get update && apt-get install -y " + " ".join(PACKAGES)
BIN = Path("/usr/lib/cyrus/bin")
SASLPASSWD = Path("/usr/sbin/saslpasswd2")
NEEDED = (BIN / "master", BIN / "httpd", BIN / "imapd", BIN / "ctl_cyrusdb", SASLPASSWD)
CYRUS = "Cyrus"
MAX_CHILDREN = 100  # Debian's cyrus.conf: maxchild=100 for http
ADMIN = "cyrus"
HOME = f"/dav/calendars/user/{ALICE}/"
CARD_HOME = f"/dav/addressbooks/user/{ALICE}/"


def missing() -> list[Path]:
    return [p for p in NEEDED if not p.exists()]


def ensure_installed() -> str | None:
    """Install Cyrus's packages when they are missing (as root, with apt-get; the run says so first).
    Returns why Cyrus cannot run here, or None."""
    if os.geteuid() != 0:
        return "Cyrus needs root: its master starts as root and runs httpd as the user cyrus"
    if not missing():
        return None
    if shutil.which("apt-get") is None:
        return f"Cyrus is not installed ({', '.join(map(str, missing()))} missing) and there is no apt-get: {INSTALL}"
    print(f"Cyrus IMAP is not installed; installing it: {INSTALL}", flush=True)
    done = subprocess.run(["sh", "-c", INSTALL], env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    if done.returncode != 0 or missing():
        return f"installing Cyrus failed ({INSTALL} exited with {done.returncode})"
    return None


def package_version(package: str = "cyrus-imapd") -> str:
    done = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True)
    return done.stdout.strip() or "?"


def children_of(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc): children, their children, ..."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        for child in parents.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def stop_master(proc: subprocess.Popen) -> None:
    """TERM to a master (it stops its services), KILL after 10 s; then any child it left, by its PID."""
    if proc.poll() is not None:
        return
    left = children_of(proc.pid)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class UnixImap(imaplib.IMAP4):
    """IMAP over the setup master's UNIX socket."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__()

    def open(self, host: str = "", port: int = 0, timeout: float | None = None) -> None:
        self.host, self.port = host, port
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(str(self.path))
        self.file = self.sock.makefile("rb")


@dataclass
class CyrusServer(Server):
    """Cyrus's ``master`` (``proc``) with httpd on 127.0.0.1:port, everything under ``root``."""

    admin_password: str = ""

    @property
    def conf(self) -> Path:
        return self.root / "conf"

    @property
    def imapd_conf(self) -> Path:
        return self.root / "imapd.conf"

    def log(self) -> str:
        logs = sorted(self.root.glob("*.log"))
        return "\n".join(f"== {p.name}\n{p.read_text(errors='replace')[-2000:]}" for p in logs)

    def start(self) -> CyrusServer:
        self.write_config()
        self.write_users()
        cyrus = pwd.getpwnam("cyrus")
        for path in [self.root, *self.root.rglob("*")]:
            os.chown(path, cyrus.pw_uid, cyrus.pw_gid)
        self.make_mailbox()
        self.proc = self.master(self.root / "cyrus.conf", "master")
        wait_until_listening(self)
        return self

    def write_config(self) -> None:
        conf, spool = self.conf, self.root / "spool"
        for name in ("db", "proc", "socket", "log", "msg", "user", "quota", "lock", "sieve"):
            (conf / name).mkdir(parents=True, exist_ok=True)
        spool.mkdir(exist_ok=True)
        self.imapd_conf.write_text(f"""configdirectory: {conf}
defaultpartition: default
partition-default: {spool}
proc_path: {conf}/proc
mboxname_lockpath: {conf}/lock
sievedir: {conf}/sieve
lmtpsocket: {conf}/socket/lmtp
idlesocket: {conf}/socket/idle
notifysocket: {conf}/socket/notify
servername: localhost
admins: {ADMIN}
altnamespace: no
unixhierarchysep: no
hashimapspool: true
umask: 077
allowplaintext: yes
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: {self.root}/sasldb2
sasl_mech_list: PLAIN
sasl_auto_transition: no
httpmodules: caldav carddav
sendmail: /bin/true
syslog_prefix: cyrus-bench
""")
        recover = f'recover cmd="{BIN}/ctl_cyrusdb -C {self.imapd_conf} -r"'
        (self.root / "cyrus.conf").write_text(f"""START {{
  {recover}
}}
SERVICES {{
  http cmd="{BIN}/httpd -C {self.imapd_conf} -U 30" listen="127.0.0.1:{self.port}" prefork=0 maxchild={MAX_CHILDREN}
}}
EVENTS {{
  checkpoint cmd="{BIN}/ctl_cyrusdb -C {self.imapd_conf} -c" period=30
}}
""")
        (self.root / "cyrus-setup.conf").write_text(f"""START {{
  {recover}
}}
SERVICES {{
  imapunix cmd="{BIN}/imapd -C {self.imapd_conf}" listen="{conf}/socket/imap" prefork=0 maxchild=2
}}
""")

    def write_users(self) -> None:
        """alice and the admin in a private sasldb (saslpasswd2 reads the password from stdin with -p)."""
        self.admin_password = secrets.token_urlsafe(18)
        for user, secret in ((ALICE, password(ALICE)), (ADMIN, self.admin_password)):
            subprocess.run([str(SASLPASSWD), "-p", "-c", "-f", str(self.root / "sasldb2"), "-u", "localhost", user],
                           input=secret.encode(), check=True, capture_output=True)
        (self.root / "sasldb2").chmod(0o640)

    def master(self, cyrus_conf: Path, name: str) -> subprocess.Popen:
        with open(self.root / f"{name}.out.log", "ab") as out:
            return subprocess.Popen([str(BIN / "master"), "-C", str(self.imapd_conf), "-M", str(cyrus_conf),
                                     "-p", str(self.root / f"{name}.pid"), "-L", str(self.root / f"{name}.log")],
                                    cwd=self.root, stdout=out, stderr=subprocess.STDOUT)

    def make_mailbox(self) -> None:
        """user.alice, created by the admin over IMAP on the setup master's UNIX socket."""
        path = self.conf / "socket" / "imap"
        setup = self.master(self.root / "cyrus-setup.conf", "master-setup")
        try:
            deadline = time.monotonic() + 30
            while not path.exists():
                if setup.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"Cyrus's setup master did not start:\n{self.log()}")
                time.sleep(0.1)
            imap = UnixImap(path)
            try:
                imap.login(ADMIN, self.admin_password)
                kind, answer = imap.create(f"user.{ALICE}")
                if kind != "OK":
                    raise RuntimeError(f"Cyrus: IMAP CREATE user.{ALICE} answered {kind} {answer!r}")
            finally:
                imap.logout()
        finally:
            stop_master(setup)

    def stop(self) -> None:
        if self.proc is not None:
            stop_master(self.proc)
        self.proc = None

    def processes(self) -> list[int]:
        """The master and its children (httpd, one per connection): the server's processes."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        return [self.proc.pid, *children_of(self.proc.pid)]

    def summary(self) -> str:
        return (f"Cyrus IMAP {package_version()} (Debian's cyrus-imapd and cyrus-caldav): master with httpd "
                f"(caldav, carddav) forked per connection, at most {MAX_CHILDREN}")


def make_cyrus_server(root: Path) -> CyrusServer:
    """A Cyrus for one size; its folder and those above it passable by the user cyrus."""
    root.mkdir(parents=True, exist_ok=True)
    for folder in (root.parent, root):
        folder.chmod(0o755)
    return CyrusServer(root=root, port=free_port(), config=root / "imapd.conf")
