"""DAViCal, the PHP + PostgreSQL CalDAV/CardDAV server, as one more server of run_speed.py (``--davical``).

Debian bookworm's ``davical`` 1.1 set up as its install notes say, privately, for one size of the run:

- its database in the run's PostgreSQL server (tests/postgres_cluster.py, the one "ours (PostgreSQL)"
  uses, with the same settings), made by DAViCal's own ``dba/create-database.sh``; the user alice
  (password as tests/server.py gives it) added with the rows ``base-data.sql`` adds for ``admin``,
  her password salted SHA-1 as AWL stores one;
- PHP-FPM 8.2 (its own master; one pool with Debian's ``www.conf`` sizes: at most 5 PHP workers;
  php.ini as Debian ships it, OPcache on, but memory_limit and max_execution_time raised so that a
  10,000-item answer or import fits) behind nginx (its own master, 127.0.0.1:port only) on a
  UNIX socket;
- DAViCal reads its config only from ``/etc/davical/<SERVER_NAME>-conf.php``: nginx sends SERVER_NAME
  ``bench-davical-<port>``, and that file, the one written outside the run's folder, is removed on
  stop.  ``readonly_webdav_collections`` is off: DAViCal then takes a PUT of a whole iCalendar (or
  vCard file) onto a collection's URL as an import, which is how the data is loaded.

Run as root (nginx and PHP-FPM drop to www-data for their workers); both masters are children of
the benchmark and are stopped by their PIDs.
"""

from __future__ import annotations

import base64
import hashlib
import os
import pwd
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from run_foundation import ALICE, FAMILY, calendar_of, event, item_href, item_uid, wait_until_listening
from speed_client import Site, card_href, vcard
from speed_report import DAVICAL
from speed_servers import BULK, CARDS, check_loaded

from tests.postgres_cluster import SUPERUSER, Cluster
from tests.server import Server, free_port, password

INSTALL = ("apt-get update && apt-get install -y davical php8.2-fpm php8.2-cli php8.2-pgsql php8.2-xml "
           "php8.2-curl nginx")
SHARE = Path("/usr/share/davical")
FPM = Path("/usr/sbin/php-fpm8.2")
NGINX = Path("/usr/sbin/nginx")
ETC = Path("/etc/davical")
URL = "/caldav.php"  # DAViCal's CalDAV/CardDAV entry point; a user's collections are under /caldav.php/<user>/
FPM_CHILDREN = 5  # Debian's www.conf: pm.max_children = 5 (start 2, spare 1..3)
IMPORT_CHUNK = 1000  # items per import PUT: PHP parses a whole body at once

MKCOL_ADDRESSBOOK = """<?xml version="1.0" encoding="utf-8"?>
<D:mkcol xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav">
<D:set><D:prop><D:resourcetype><D:collection/><CR:addressbook/></D:resourcetype>
<D:displayname>Contacts</D:displayname></D:prop></D:set></D:mkcol>"""

# An incremental sync-collection of DAViCal 1.1 may list one member more than changed since the token:
# it asks for changes at or after the token's time (caldav-REPORT-sync-collection.php, sync_time >=),
# and a PUT that made a new token wrote its change at that same time.
SYNC_REPEATS_LAST = 1
SYNC_NOTE = (": it also lists the change that made the client's token (it selects changes at or after the "
             "token's time, caldav-REPORT-sync-collection.php); reporting a member that did not change is "
             "allowed by RFC 6578 and costs the client one GET, so the check accepts one more response from it")


def missing() -> str | None:
    """Why DAViCal cannot be started here, in one line, or None."""
    absent = [str(p) for p in (SHARE / "dba" / "create-database.sh", SHARE / "htdocs" / "caldav.php", FPM, NGINX)
              if not p.exists()]
    if absent:
        return f"--davical needs DAViCal, PHP-FPM and nginx ({', '.join(absent)} missing): {INSTALL}"
    if os.geteuid() != 0:
        return "--davical needs root: nginx and PHP-FPM start as root and run their workers as www-data"
    return None


def salted_sha1(secret: str) -> str:
    """A password as AWL's session_salted_sha1() stores it: ``*salt*{SSHA}base64(sha1(secret + salt) + salt)``."""
    salt = secrets.token_hex(4)
    digest = hashlib.sha1((secret + salt).encode()).digest() + salt.encode()
    return f"*{salt}*{{SSHA}}{base64.b64encode(digest).decode()}"


@dataclass
class DavicalServer(Server):
    """nginx (``proc``) + PHP-FPM (``fpm``) serving /usr/share/davical/htdocs, its database in ``cluster``."""

    cluster: Cluster | None = None
    database: str = ""
    fpm: subprocess.Popen | None = None

    @property
    def server_name(self) -> str:
        return f"bench-davical-{self.port}"

    @property
    def stub(self) -> Path:
        return ETC / f"{self.server_name}-conf.php"

    def log(self) -> str:
        logs = sorted((self.root / "log").glob("*.log")) if (self.root / "log").is_dir() else []
        return "\n".join(f"== {p.name}\n{p.read_text(errors='replace')[-2000:]}" for p in logs)

    def start(self) -> DavicalServer:
        (self.root / "log").mkdir(parents=True, exist_ok=True)
        (self.root / "nginx").mkdir(exist_ok=True)
        www = pwd.getpwnam("www-data")
        os.chown(self.root / "log", www.pw_uid, www.pw_gid)  # PHP's error log is written by the workers
        self.make_database()
        self.write_config()
        fpm_socket = self.root / "php-fpm.sock"
        self.fpm = self.spawn([str(FPM), "--nodaemonize", "--fpm-config", str(self.root / "php-fpm.conf")], "php-fpm")
        deadline = time.monotonic() + 30
        while not fpm_socket.exists():
            if self.fpm.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"PHP-FPM did not start:\n{self.log()}")
            time.sleep(0.05)
        self.proc = self.spawn([str(NGINX), "-e", str(self.root / "log" / "nginx-error.log"), "-p",
                                str(self.root / "nginx"), "-c", str(self.root / "nginx.conf"), "-g", "daemon off;"],
                               "nginx")
        wait_until_listening(self)
        return self

    def spawn(self, command: list[str], name: str) -> subprocess.Popen:
        with open(self.root / "log" / f"{name}.out.log", "ab") as out:
            return subprocess.Popen(command, cwd=self.root, stdout=out, stderr=subprocess.STDOUT)

    def make_database(self) -> None:
        """DAViCal's create-database.sh (roles davical_dba and davical_app, schema, base data), then alice."""
        assert self.cluster is not None
        env = {**os.environ, "PGHOST": "127.0.0.1", "PGPORT": str(self.cluster.port), "PGUSER": SUPERUSER,
               "DBAOPTS": f"--dbhost 127.0.0.1 --dbport {self.cluster.port}"}
        admin = secrets.token_urlsafe(12)
        with open(self.root / "log" / "create-database.log", "wb") as out:
            done = subprocess.run(["sh", str(SHARE / "dba" / "create-database.sh"), self.database, admin],
                                  env=env, cwd=self.root, stdout=out, stderr=subprocess.STDOUT, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"DAViCal's create-database.sh failed:\n{self.log()}")
        import psycopg

        with psycopg.connect(self.cluster.dsn_of(self.database), autocommit=True) as conn:
            conn.execute("INSERT INTO usr (user_no, active, email_ok, updated, username, password, fullname, email) "
                         "VALUES (nextval('usr_user_no_seq'), TRUE, current_date, current_date, %s, %s, %s, %s)",
                         (ALICE, salted_sha1(password(ALICE)), "Alice Müller", f"{ALICE}@example.org"))
            conn.execute("INSERT INTO principal (type_id, user_no, displayname, default_privileges) "
                         "SELECT 1, user_no, fullname, 0::BIT(24) FROM usr WHERE username = %s", (ALICE,))

    def write_config(self) -> None:
        assert self.cluster is not None
        root, port = self.root, self.port
        connect = f"dbname={self.database} user=davical_app host=127.0.0.1 port={self.cluster.port}"
        self.stub.write_text(f"""<?php
// bench/speed_davical.py: one DAViCal of a speed run (removed when it stops)
$c->pg_connect[] = '{connect}';
$c->domain_name = '127.0.0.1';
$_SERVER['SERVER_NAME'] = '127.0.0.1';
$c->system_name = 'DAViCal speed benchmark';
$c->admin_email = 'admin@example.org';
$c->readonly_webdav_collections = false;  // a PUT onto a collection imports a whole calendar or address book
""")
        (root / "php-fpm.conf").write_text(f"""[global]
pid = {root}/php-fpm.pid
error_log = {root}/log/php-fpm.log
daemonize = no

[davical]
user = www-data
group = www-data
listen = {root}/php-fpm.sock
listen.owner = www-data
listen.group = www-data
listen.mode = 0660
pm = dynamic
pm.max_children = {FPM_CHILDREN}
pm.start_servers = 2
pm.min_spare_servers = 1
pm.max_spare_servers = 3
catch_workers_output = yes
php_admin_value[error_log] = {root}/log/php-error.log
php_admin_value[memory_limit] = 1024M
php_admin_value[max_execution_time] = 600
""")
        (root / "nginx.conf").write_text(f"""user www-data;
worker_processes auto;
pid {root}/nginx.pid;
events {{ worker_connections 768; }}
http {{
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log off;
  client_body_temp_path {root}/nginx/body;
  fastcgi_temp_path {root}/nginx/fastcgi;
  proxy_temp_path {root}/nginx/proxy;
  uwsgi_temp_path {root}/nginx/uwsgi;
  scgi_temp_path {root}/nginx/scgi;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 65;
  client_max_body_size 20m;
  fastcgi_read_timeout 600s;
  server {{
    listen 127.0.0.1:{port};
    server_name {self.server_name};
    root {SHARE}/htdocs;
    index index.php;
    location ~ ^(.+?\\.php)(/.*)?$ {{
      fastcgi_split_path_info ^(.+?\\.php)(/.*)$;
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
      fastcgi_param PATH_INFO $fastcgi_path_info;
      fastcgi_param SERVER_NAME {self.server_name};
      fastcgi_pass unix:{root}/php-fpm.sock;
    }}
  }}
}}
""")

    def stop(self) -> None:
        """nginx, then PHP-FPM (each by its PID: TERM, KILL after 10 s), then the /etc/davical file.  The
        database goes with the run's PostgreSQL server."""
        for proc in (self.proc, self.fpm):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # both: stop the workers, then exit
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.proc = self.fpm = None
        self.stub.unlink(missing_ok=True)

    def summary(self) -> str:
        """What the table's server line says: the packages and how it runs."""
        return (f"davical {package_version('davical')}, php8.2-fpm {package_version('php8.2-fpm')} with at most "
                f"{FPM_CHILDREN} PHP workers, nginx {package_version('nginx')}")


def package_version(package: str) -> str:
    done = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True)
    return done.stdout.strip() or "?"


def make_davical_server(root: Path, cluster: Cluster, size: int) -> DavicalServer:
    """A DAViCal for one size; its folder readable by www-data (nginx's workers reach PHP-FPM's socket there)."""
    root.mkdir(parents=True, exist_ok=True)
    for folder in (root.parent, root):
        folder.chmod(0o755)
    return DavicalServer(root=root, port=free_port(), config=root / "no-config", cluster=cluster,
                         database=f"davical_{size}")


def davical_site(server: DavicalServer) -> Site:
    return Site(name=DAVICAL, port=server.port, user=ALICE, calendar=URL + FAMILY, cards=URL + CARDS,
                bulk=URL + BULK)


def load_davical(site: Site, items: int) -> None:
    """The calendar and the address book made (MKCALENDAR, extended MKCOL) and imported: PUTs of
    IMPORT_CHUNK items each onto the collection (``?mode=append``: keep what the earlier PUTs imported);
    DAViCal writes every item as a PUT of it would (its row, its calendar_item or addressbook_resource
    row, its sync change).  The calendar's last event is PUT alone, so that its last change is one
    item's, as after N PUTs: an import's changes share the import's sync token, and a sync from that
    token would list the whole import again.  Then the empty bulk calendar."""
    client = site.client()
    client.call("MKCALENDAR", site.calendar, codes=(201,))
    client.call("MKCOL", site.cards, MKCOL_ADDRESSBOOK, codes=(201,))
    for first in range(0, items, IMPORT_CHUNK):
        chunk = range(first, min(first + IMPORT_CHUNK, items))
        events = [event(item_uid(n), n) for n in chunk if n < items - 1]
        if events:
            client.call("PUT", f"{site.calendar}?mode=append", calendar_of(events), {"Content-Type": "text/calendar"},
                        (200,))
        client.call("PUT", f"{site.cards}?mode=append", "".join(vcard(n) for n in chunk),
                    {"Content-Type": "text/vcard"}, (200,))
    client.put(site.calendar + item_href(items - 1), calendar_of([event(item_uid(items - 1), items - 1)]), (201,))
    client.call("MKCALENDAR", site.bulk, codes=(201,))
    check_loaded(site, site.calendar, items, item_href(0))
    check_loaded(site, site.cards, items, card_href(0))

