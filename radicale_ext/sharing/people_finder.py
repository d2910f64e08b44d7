"""Finding people and circles by name, to share a collection with them or open it to them (the web
page's search and its typeahead; docs/web.md, "Share a calendar or address book").

What a logged-in person may search, and all they learn from it: the **names** of users and of
circles that contain what they typed (any case).  Never a circle's members or managers, a user's
card, e-mail address, calendars or anything else.  These names are not secret on this server: any
owner may share with any user or circle by name (:meth:`~.shares.ShareBook.add` refuses an unknown
name with "no user named ..."), so the search only saves typing.  At most :data:`LIMIT` names are
returned, so a short query never lists a large server whole; the person searching is left out
(nobody shares with themselves).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable

from ..base.errors import InvalidName
from ..base.model import Grantee, GranteeKind
from .circles import CircleBook

LIMIT = 20          # names per answer
MAX_QUERY = 128     # characters of a query (the longest user or circle name)


def _folded(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


class PeopleFinder:
    def __init__(self, circles: CircleBook, user_names: Callable[[], Iterable[str]]) -> None:
        self._circles = circles
        self._user_names = user_names   # every account (empty when users are kept outside this server)

    def find(self, text: str, *, actor: str, limit: int = LIMIT) -> list[Grantee]:
        """Users and circles whose name contains ``text``: exact names first, then names that start
        with it, then the others, each by name; users before circles of the same rank.

        Raises :class:`InvalidName` for a query longer than :data:`MAX_QUERY` characters.
        """
        if len(text) > MAX_QUERY:
            raise InvalidName(f"a search is at most {MAX_QUERY} characters long")
        wanted = _folded(text.strip())
        if not wanted:
            return []
        candidates = [Grantee(GranteeKind.USER, name) for name in self._user_names() if name != actor]
        candidates += [Grantee(GranteeKind.CIRCLE, circle.name) for circle in self._circles.list()]
        ranked = []
        for grantee in candidates:
            name = _folded(grantee.name)
            if wanted in name:
                rank = 0 if name == wanted else 1 if name.startswith(wanted) else 2
                ranked.append((rank, grantee.kind is GranteeKind.CIRCLE, name, grantee.name, grantee))
        return [entry[-1] for entry in sorted(ranked, key=lambda e: e[:4])[:limit]]
