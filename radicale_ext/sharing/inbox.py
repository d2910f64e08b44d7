"""A person's notification collection: what the DAV client lists, reads and deletes.

It holds the person's stored notices (:mod:`radicale_ext.sharing.notifications`) and,
derived from :mod:`radicale_ext.sharing.invitations` on every listing, one notice per
invitation still awaiting their answer.  Deriving those keeps them true
without bookkeeping: a withdrawn invitation, an answered one, or one that no
longer reaches the person (they left the circle) simply is not listed, and a
new circle member finds the circle's invitations there.  Deleting the notice
of a pending invitation hides it; the invitation stays pending.

A listing that a client gets with a sync-token is recorded in the
collection's history (:mod:`.inbox_history`), derived notices included, so
that a sync-collection report answers exactly what appeared, changed and
disappeared since the client's token (RFC 6578).
"""

from __future__ import annotations

from collections.abc import Callable

from ..base.model import Invitation
from .inbox_history import InboxHistory
from .invitations import InvitationBook, invitation_notice
from .notifications import Notice, NoticeBox, NoticeKind

SHARED_TYPES = {"VCALENDAR": "calendar", "VADDRESSBOOK": "addressbook"}


class Inbox:
    def __init__(self, notices: NoticeBox, invitations: InvitationBook,
                 collection_tag: Callable[[str], str | None], history: InboxHistory) -> None:
        self._notices = notices
        self._invitations = invitations
        self._collection_tag = collection_tag
        self._history = history

    def notices(self, user: str) -> list[Notice]:
        """Oldest first: awaiting invitations, then stored notices."""
        derived = [self._from_invitation(i) for i in self._invitations.awaiting(user)]
        return self._with_shared_type(sorted(derived, key=lambda n: n.created_at) + self._notices.notices(user))

    def listing(self, user: str) -> tuple[list[Notice], int]:
        """:meth:`notices`, and the version of the collection they make (its sync-token, RFC 6578)."""
        notices = self.notices(user)
        return notices, self._history.record(user, {n.name: n.etag for n in notices})

    def changes(self, user: str, since: int) -> tuple[list[Notice], list[str], int]:
        """The notices added or changed since version ``since``, the names of those removed since, and
        the current version.  Raises :class:`~.inbox_history.UnknownVersion` for a version we do not know."""
        notices = self.notices(user)
        changes = self._history.changes(user, since, {n.name: n.etag for n in notices})
        return [n for n in notices if n.name in changes.changed], sorted(changes.removed), changes.version

    def notice(self, user: str, name: str) -> Notice | None:
        stored = self._notices.get(user, name)
        if stored is not None:
            return self._with_shared_type([stored])[0]
        return next((n for n in self.notices(user) if n.name == name), None)

    def delete(self, user: str, name: str) -> bool:
        return self._notices.delete(user, name) or self._invitations.dismiss(user, name)

    @staticmethod
    def _from_invitation(invitation: Invitation) -> Notice:
        share = invitation.share
        return Notice(user=invitation.user, name=invitation.id, kind=NoticeKind.INVITATION,
                      created_at=float(share.created_at),
                      data=invitation_notice(share, invitation.user, "noresponse"))

    def _with_shared_type(self, notices: list[Notice]) -> list[Notice]:
        """Say whether each notice is about a calendar or an address book (CS ``shared-type``)."""
        tags: dict[str, str | None] = {}
        done = []
        for n in notices:
            collection = n.data.get("collection")
            if isinstance(collection, str):
                if collection not in tags:
                    tags[collection] = self._collection_tag(collection)
                shared_type = SHARED_TYPES.get(tags[collection] or "", "calendar")
                n = Notice(user=n.user, name=n.name, kind=n.kind, created_at=n.created_at,
                           data={**n.data, "shared_type": shared_type})
            done.append(n)
        return done
