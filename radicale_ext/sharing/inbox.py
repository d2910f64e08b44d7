"""A person's notification collection: what the DAV client lists, reads and deletes.

It holds the person's stored notices (:mod:`radicale_ext.sharing.notifications`) and,
derived from :mod:`radicale_ext.sharing.invitations` on every listing, one notice per
invitation still awaiting their answer.  Deriving those keeps them true
without bookkeeping: a withdrawn invitation, an answered one, or one that no
longer reaches the person (they left the circle) simply is not listed, and a
new circle member finds the circle's invitations there.  Deleting the notice
of a pending invitation hides it; the invitation stays pending.
"""

from __future__ import annotations

from collections.abc import Callable

from ..base.model import Invitation
from .invitations import InvitationBook, invitation_notice
from .notifications import Notice, NoticeBox, NoticeKind

SHARED_TYPES = {"VCALENDAR": "calendar", "VADDRESSBOOK": "addressbook"}


class Inbox:
    def __init__(self, notices: NoticeBox, invitations: InvitationBook,
                 collection_tag: Callable[[str], str | None]) -> None:
        self._notices = notices
        self._invitations = invitations
        self._collection_tag = collection_tag

    def notices(self, user: str) -> list[Notice]:
        """Oldest first: awaiting invitations, then stored notices."""
        derived = [self._from_invitation(i) for i in self._invitations.awaiting(user)]
        return self._with_shared_type(sorted(derived, key=lambda n: n.created_at) + self._notices.notices(user))

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
