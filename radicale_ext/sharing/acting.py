"""Who may act for whom in sharing: the admin (``actor`` ``None``, the command line without ``--as``)
for anyone; a person for themselves (their invitations, subscriptions, what is shared with them); an
owner for their own collections.  The command line and the web page pass the person acting; each
operation checks it here, so neither edge has a rule of its own (docs/web.md, "How to add a page").
"""

from __future__ import annotations

from ..base.errors import Forbidden

ADMIN: str | None = None   # acting as the server's admin: every check passes


def for_themselves(user: str, actor: str | None) -> str:
    """``user``, when ``actor`` may act for them (they themselves, or the admin); else :class:`Forbidden`."""
    if actor is not ADMIN and actor != user:
        raise Forbidden(f"{actor!r} may act only for themselves, not for {user!r}")
    return user


def as_owner(owner: str, actor: str | None, doing: str) -> None:
    """Refuse (:class:`Forbidden`) anyone but ``owner`` and the admin ``doing`` something to a collection of
    ``owner``'s, e.g. ``doing="see who a collection is shared with"``."""
    if actor is not ADMIN and actor != owner:
        raise Forbidden(f"only {owner!r} (the owner) may {doing}")
