"""Copy the embedded default (Radicale's files and the sharing database's SQLite file) into PostgreSQL,
then check the copy: every item's ETag, every row of the sharing database (docs/scale-out.md, "Moving
an existing server").

    radicale-ext --config radicale.ini migrate --to postgresql://radicale@db/radicale

(the command line runs ``python -m radicale_ext.plugins.migrate``: reading items takes Radicale's
own parser, which only the plugins may import).  The copy is a mirror: run it again and PostgreSQL
holds what the files and the SQLite file hold then (collections gone from the files are removed
there too), so it can be run once while the server still serves from files and once more, quickly,
after stopping it.  Items keep their text byte for byte, so their ETags, and so what clients hold,
stay valid; sync tokens start anew (clients do one full sync).  Nothing is sent: the copy makes no
change notices.  Exit status 0 when the check found the copy identical, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

from radicale import config, pathutils
from radicale import item as radicale_item
from radicale.storage import multifilesystem

from radicale_ext.base.database import Writer
from radicale_ext.base.errors import ExtError
from radicale_ext.base.postgres import PostgresDatabase, without_password
from radicale_ext.index.pg_items import NewItem, PgItems
from radicale_ext.site import FEATURE_SCHEMAS, Settings

from ._site import settings_from
from .indexed_items import facts_of

SKIPPED_TABLES = ("meta",)   # each database's own identity and schema version


@dataclass
class Report:
    collections: int = 0
    items: int = 0
    removed: list[str] = field(default_factory=list)
    tables: dict[str, int] = field(default_factory=dict)
    differences: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        lines = [f"copied {self.collections} collections with {self.items} items",
                 f"copied {sum(self.tables.values())} rows of {len(self.tables)} tables of the sharing database"]
        if self.removed:
            lines.append(f"removed {len(self.removed)} collections that are no longer in the files: "
                         + ", ".join(self.removed))
        if self.differences:
            lines += ["the copy differs:", *(f"  {d}" for d in self.differences)]
        else:
            lines.append("checked: every item's ETag and every row are the same in PostgreSQL")
        return lines


# -- calendars and address books ------------------------------------------------------------------

def _collections(storage: multifilesystem.Storage, path: str = "") -> Iterator[multifilesystem.Collection]:
    """Every collection under ``path`` (homes, calendars, address books, and anything deeper)."""
    found = list(storage.discover(pathutils.unstrip_path(path, True), depth="1"))
    for collection in found[1:]:
        if isinstance(collection, radicale_item.Item):
            continue
        yield collection
        yield from _collections(storage, collection.path)


def copy_items(storage: multifilesystem.Storage, items: PgItems, report: Report) -> dict[str, dict[str, str]]:
    """Every collection with its properties and items, as stored; the ETags by collection and href."""
    etags: dict[str, dict[str, str]] = {}
    with storage.acquire_lock("r"), items.locked("w"):
        for collection in _collections(storage):
            stored = list(collection.get_all())
            new = [NewItem(i.href, i.serialize(), facts_of(i)) for i in stored]
            items.make_collection(collection.path, collection.get_meta(), items=new)
            etags[collection.path] = {i.href: i.etag for i in stored}
            report.collections += 1
            report.items += len(new)
        for path in sorted(items.collections_under(""), key=len, reverse=True):
            if path and path not in etags and items.collection(path) is not None:
                items.delete_collection(path)
                report.removed.append(path)
    return etags


def check_items(items: PgItems, etags: dict[str, dict[str, str]], report: Report) -> None:
    for path, expected in sorted(etags.items()):
        stored = items.collection(path)
        if stored is None:
            report.differences.append(f"{path}: missing")
            continue
        found = {href: entry.facts.etag for href, entry in items.view(stored).entries.items()}
        for href in sorted(set(expected) | set(found)):
            if expected.get(href) != found.get(href):
                report.differences.append(f"{path}/{href}: ETag {expected.get(href)} in the files, "
                                          f"{found.get(href)} in PostgreSQL")


# -- the sharing database ---------------------------------------------------------------------------

def _tables(source: sqlite3.Connection) -> list[str]:
    """The tables to copy, each after those it refers to (so their rows go in first)."""
    names = [r[0] for r in source.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
             if not r[0].startswith("sqlite_") and r[0] not in SKIPPED_TABLES]
    refers = {n: {r[2] for r in source.execute(f'PRAGMA foreign_key_list("{n}")')} & set(names) - {n}
              for n in names}
    ordered: list[str] = []
    while len(ordered) < len(names):
        ready = [n for n in names if n not in ordered and refers[n] <= set(ordered)]
        ordered += ready or [n for n in names if n not in ordered]   # a cycle: its tables in name order
    return ordered


def _rows(source: sqlite3.Connection, table: str) -> tuple[list[str], list[tuple]]:
    columns = [r[1] for r in source.execute(f'PRAGMA table_info("{table}")')]
    quoted = ", ".join(f'"{c}"' for c in columns)
    return columns, source.execute(f'SELECT {quoted} FROM "{table}"').fetchall()


def _same(value: object) -> object:
    """A value as both engines give it back (PostgreSQL's booleans are SQLite's 0 and 1)."""
    return int(value) if isinstance(value, bool) else value


def copy_sharing(source_path: str, target: PostgresDatabase, report: Report) -> None:
    """Every row of the SQLite file in PostgreSQL, in one transaction: what was there before is replaced."""
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
    try:
        tables = _tables(source)
        present = {t for t in tables if target.read_one(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?",
            (t,))}
        missing = [t for t in tables if t not in present]
        if missing:
            raise ExtError(f"PostgreSQL has no table {', '.join(missing)}: is the SQLite file of a newer "
                           "radicale-ext than this one?")
        with target.write() as w:
            for table in reversed(tables):
                w.execute(f'DELETE FROM "{table}"')
            for table in tables:
                report.tables[table] = _copy_table(source, w, table)
        for table in tables:
            columns, rows = _rows(source, table)
            quoted = ", ".join(f'"{c}"' for c in columns)
            copied = target.read(f'SELECT {quoted} FROM "{table}"')
            if sorted(map(repr, rows)) != sorted(repr(tuple(_same(v) for v in row)) for row in copied):
                report.differences.append(f"table {table}: {len(rows)} rows in SQLite, {len(copied)} in PostgreSQL, "
                                          "not the same")
    finally:
        source.close()


def _copy_table(source: sqlite3.Connection, w: Writer, table: str) -> int:
    columns, rows = _rows(source, table)
    if rows:
        quoted = ", ".join(f'"{c}"' for c in columns)
        # the table's name unquoted: the seam reads "INSERT INTO name (columns)" to move an identity past given ids
        w.executemany(f'INSERT INTO {table} ({quoted}) VALUES ({", ".join("?" * len(columns))})', rows)
    return len(rows)


# -- the command ------------------------------------------------------------------------------------

def migrate(settings: Settings, configuration: config.Configuration, dsn: str) -> Report:
    """Raises :class:`ExtError` (or :class:`~radicale_ext.base.errors.DatabaseUnavailable`) with a sentence."""
    if settings.postgresql_dsn:
        raise ExtError("the config already names PostgreSQL ([storage] postgresql_dsn); migrate reads the files "
                       "and the SQLite file of a config without it")
    report = Report()
    items = PgItems(dsn, pool_size=2)
    target = PostgresDatabase.open(dsn, pool_size=2, schemas=FEATURE_SCHEMAS)
    try:
        storage = multifilesystem.Storage(configuration)
        etags = copy_items(storage, items, report)
        copy_sharing(settings.database_path, target, report)
        check_items(items, etags, report)
    finally:
        target.close()
        items.close()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="radicale-ext migrate", description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--to", required=True, metavar="DSN", help="the PostgreSQL database (a libpq DSN or URI)")
    args = parser.parse_args(argv)
    try:
        configuration = config.load([(args.config, False)])
        settings = settings_from(configuration)
        report = migrate(settings, configuration, args.to)
    except (ExtError, RuntimeError, OSError, sqlite3.Error) as e:
        print(f"radicale-ext: error: {e}", file=sys.stderr)
        return 2
    print(f"into {without_password(args.to)}:")
    print("\n".join(report.lines()))
    return 1 if report.differences else 0


if __name__ == "__main__":
    sys.exit(main())
