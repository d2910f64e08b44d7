"""A reader's sync token (:mod:`.reader_views`): the item index's token, then :data:`COUNT_MARK` and how far
the reader has seen the changes that are theirs alone (a me card's projection, their own alarms)."""

from __future__ import annotations

COUNT_MARK = "-"   # index tokens are hexadecimal after their prefix: the mark is never part of them


def reader_token(base: str, count: int) -> str:
    return f"{base}{COUNT_MARK}{count}"


def split_token(token: str) -> tuple[str, int | None]:
    """(the index's token, the count); count None: the index's token alone (issued before the
    reader had anything of their own, or to someone who saw what is stored)."""
    base, mark, count = token.rpartition(COUNT_MARK)
    if not mark or not count.isdigit():
        return token, None
    return base, int(count)
