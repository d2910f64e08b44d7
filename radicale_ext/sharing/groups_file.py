"""The admin's groups file (Apache htgroup format), read again when it changes.

    # circle: member member ...
    family: alice bob
    team: carol dave

The same format Radicale's ``[group] type = htgroup`` reads, so an admin's
existing file works unchanged.
"""

from __future__ import annotations

import logging
import os
import threading

from ..base.errors import ExtError

logger = logging.getLogger("radicale_ext")


class GroupsFileError(ExtError):
    pass


def parse_groups(text: str, source: str = "groups file") -> dict[str, frozenset[str]]:
    circles: dict[str, frozenset[str]] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, members = line.partition(":")
        name = name.strip()
        if not sep or not name:
            raise GroupsFileError(f"{source}, line {number}: expected 'circle: member member ...'")
        if name in circles:
            raise GroupsFileError(f"{source}, line {number}: circle {name!r} is listed twice")
        circles[name] = frozenset(m for m in members.replace(",", " ").split() if m)
    return circles


class GroupsFile:
    """Circles defined by the admin; re-read when size or mtime change."""

    def __init__(self, path: str | None) -> None:
        self.path = path or None
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int, int] | None = None
        self._circles: dict[str, frozenset[str]] = {}
        self._by_member: dict[str, frozenset[str]] = {}
        if self.path:
            self._reload(initial=True)

    def _file_stamp(self) -> tuple[int, int, int, int] | None:
        """Changes whenever the file does: replaced (inode), written (times) or resized."""
        assert self.path is not None
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size

    def _reload(self, initial: bool = False) -> None:
        assert self.path is not None
        stamp = self._file_stamp()
        if stamp == self._stamp and not initial:
            return
        if stamp is None:
            circles: dict[str, frozenset[str]] = {}
        else:
            try:
                with open(self.path, encoding="utf-8") as f:
                    circles = parse_groups(f.read(), self.path)
            except (OSError, UnicodeDecodeError, GroupsFileError) as e:
                if initial:
                    raise GroupsFileError(f"cannot read groups file {self.path!r}: {e}") from e
                logger.error("groups file %r not re-read, keeping the previous circles: %s", self.path, e)
                self._stamp = stamp
                return
        by_member: dict[str, set[str]] = {}
        for name, members in circles.items():
            for member in members:
                by_member.setdefault(member, set()).add(name)
        self._circles = circles
        self._by_member = {m: frozenset(c) for m, c in by_member.items()}
        self._stamp = stamp

    def refresh(self) -> None:
        if self.path:
            with self._lock:
                self._reload()

    def circles(self) -> dict[str, frozenset[str]]:
        self.refresh()
        return self._circles

    def circles_of(self, user: str) -> frozenset[str]:
        self.refresh()
        return self._by_member.get(user, frozenset())
