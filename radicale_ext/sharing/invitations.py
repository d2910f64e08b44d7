"""Invitations: each person a share reaches decides whether to take it in.

A share made by invitation (:class:`~radicale_ext.base.model.ShareBasis`) reaches
each person (the user it names, or every member of the circle it names) as one
invitation.  Its state (:class:`~radicale_ext.base.model.InvitationState`) is kept
per share and person; no row means *pending*, so a new member of a circle
finds the circle's invitations waiting without anything being copied when
the membership changes.

    pending --accept--> accepted --remove--> removed --accept--> accepted
    pending --decline-> declined --accept--> accepted

Withdrawing a share (the owner) deletes its invitations with it; sharing
again makes new ones.  A person decides per collection: accepting or
declining answers every invitation of that collection that reaches them.
Every decision is one transaction with the notice it sends to the owner.
The ``invitations`` table is defined with the shares (:data:`radicale_ext.sharing.shares.SCHEMA`):
the request path's one query reads it.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..base import names
from ..base.database import Database, Writer
from ..base.errors import Conflict, ExtError, Forbidden, NotFound
from ..base.model import Grant, Grantee, GranteeKind, Invitation, InvitationState, Role, Share, ShareBasis
from . import addresses
from .acting import ADMIN, as_owner, for_themselves
from .circles import CircleBook
from .notifications import NoticeBox, NoticeKind
from .shares import Reach, ShareBook


class InvitationGone(Conflict):
    """A reply to an invitation that no longer exists."""


class Standing(enum.Enum):
    """Where one person stands with a shared collection, as its owner sees it."""

    AT_ONCE = "at once"            # shared at once: in their home, no question asked
    ACCEPTED = "accepted"
    SUBSCRIBED = "subscribed"      # subscribed themselves, and in the subscription scope
    PENDING = "pending"
    DECLINED = "declined"
    REMOVED = "removed"
    OUT_OF_SCOPE = "out of scope"  # subscribed, but no longer in the subscription scope

    @property
    def has_access(self) -> bool:
        return self in (Standing.AT_ONCE, Standing.ACCEPTED, Standing.SUBSCRIBED)


_PRECEDENCE = list(Standing)  # a person reached by several shares stands where the first one says


@dataclass(frozen=True)
class Route:
    """One way a share reaches a person (the share names them, or a circle they are in), and where
    they stand with that share."""

    share: Share
    standing: Standing

    @property
    def circle(self) -> str | None:
        """The circle it reaches them through; ``None``: it names them (or they subscribed)."""
        return self.share.grantee.name if self.share.grantee.kind is GranteeKind.CIRCLE else None


@dataclass(frozen=True)
class Person:
    """One person a collection is shared with, in the owner's view."""

    user: str
    role: Role
    standing: Standing
    via: tuple[str, ...]
    summary: str = ""
    routes: tuple[Route, ...] = field(default=(), compare=False)   # each share reaching them, by via


# the answers a person may give, and the states each may follow
_ALLOWED: dict[InvitationState, frozenset[InvitationState]] = {
    InvitationState.ACCEPTED: frozenset({InvitationState.PENDING, InvitationState.DECLINED,
                                         InvitationState.REMOVED}),
    InvitationState.DECLINED: frozenset({InvitationState.PENDING}),
    InvitationState.REMOVED: frozenset({InvitationState.ACCEPTED}),
}
_REFUSAL = {
    InvitationState.DECLINED: "it is accepted; use 'invitation remove' to take it out of your home",
    InvitationState.REMOVED: "it is not in your home",
}


def _standing(share: Share, state: InvitationState | None, in_scope: bool) -> Standing:
    if share.basis is ShareBasis.AT_ONCE:
        return Standing.AT_ONCE
    if share.basis is ShareBasis.SUBSCRIPTION:
        return Standing.SUBSCRIBED if in_scope else Standing.OUT_OF_SCOPE
    return Standing((state or InvitationState.PENDING).value)


def _via(share: Share) -> str:
    if share.basis is ShareBasis.SUBSCRIPTION:
        return "subscription"
    return "direct" if share.grantee.kind is GranteeKind.USER else f"circle:{share.grantee.name}"


def _person(user: str, entries: list[tuple[Share, Standing]]) -> Person:
    """Where ``user`` stands, from every share of one collection that reaches them."""
    standing = min((s for _share, s in entries), key=_PRECEDENCE.index)
    counting = [share for share, s in entries if s.has_access] or [share for share, _s in entries]
    role = max((share.role for share in counting), key=lambda r: r.rank)
    return Person(user=user, role=role, standing=standing,
                  via=tuple(sorted(f"{_via(share)} ({s.value})" for share, s in entries)),
                  summary=next((share.summary for share, _s in entries if share.summary), ""),
                  routes=tuple(sorted((Route(share, s) for share, s in entries), key=lambda r: _via(r.share))))


def invitation_notice(share: Share, user: str, status: str) -> dict[str, Any]:
    """The data of an invite-notification to ``user`` about ``share`` (status: noresponse, accepted, deleted)."""
    return {"uid": share.invitation_id(user), "sharee": user, "status": status, "role": share.role.value,
            "collection": share.collection, "owner": share.owner, "summary": share.summary}


class InvitationBook:
    def __init__(self, db: Database, shares: ShareBook, circles: CircleBook, notices: NoticeBox, *,
                 in_scope: Callable[[str, str], bool],
                 user_exists: Callable[[str], bool] | None = None) -> None:
        self._db = db
        self._shares = shares
        self._circles = circles
        self._notices = notices
        self._in_scope = in_scope
        self._user_exists = user_exists or (lambda _u: True)

    # -- a person's invitations ------------------------------------------------

    def incoming(self, user: str, *, actor: str | None = ADMIN) -> list[Invitation]:
        """Every invitation reaching ``user``, whatever its state (``user`` or the admin)."""
        for_themselves(user, actor)
        return [self._invitation(r) for r in self._shares.reaches(user, self._circles.circles_of(user))
                if r.share.basis is ShareBasis.INVITATION]

    def awaiting(self, user: str) -> list[Invitation]:
        """Invitations ``user`` has not answered and whose notice they kept."""
        return [i for i in self.incoming(user) if i.state is InvitationState.PENDING and not i.dismissed]

    def shared_with(self, user: str, *, actor: str | None = ADMIN) -> list[Grant]:
        """What is in ``user``'s home from others (the shares that count for them), where it is there
        (``user`` or the admin): 'shared-with', the web page's invitations page."""
        for_themselves(user, actor)
        return self._shares.grants_for(user, self._circles.circles_of(user))

    def accept(self, user: str, collection: str, *, invitation_id: str | None = None, summary: str = "",
               actor: str | None = ADMIN) -> Grant:
        """Take the collection in: it appears in ``user``'s home.  Returns their grant."""
        for_themselves(user, actor)
        collection = self._decide(user, collection, InvitationState.ACCEPTED, invitation_id, summary)
        grant = self._shares.grant_on(user, self._circles.circles_of(user), collection)
        assert grant is not None
        return grant

    def decline(self, user: str, collection: str, *, invitation_id: str | None = None, summary: str = "",
                actor: str | None = ADMIN) -> None:
        for_themselves(user, actor)
        self._decide(user, collection, InvitationState.DECLINED, invitation_id, summary)

    def remove_from_home(self, user: str, collection: str, *, actor: str | None = ADMIN) -> None:
        """Take an accepted collection out of ``user``'s home; the owner's data stays as it is."""
        for_themselves(user, actor)
        self._decide(user, collection, InvitationState.REMOVED, None, "")

    def dismiss(self, user: str, invitation_id: str) -> bool:
        """``user`` deleted the notice of a pending invitation: hide it, keep the invitation pending."""
        found = [i for i in self.awaiting(user) if i.id == invitation_id]
        if not found:
            return False
        with self._db.write() as w:
            w.execute("INSERT INTO invitations(share_id, user, state, dismissed, updated_at) VALUES (?, ?, ?, 1, ?)"
                      " ON CONFLICT(share_id, user) DO UPDATE SET dismissed = 1",
                      (found[0].share.id, user, InvitationState.PENDING.value, int(time.time())))
        return True

    def collection_of(self, user: str, invitation_id: str) -> str:
        """The collection an invitation id (CS:in-reply-to) is about, checked against who answers.

        Raises :class:`Forbidden` when the invitation was sent to someone else,
        :class:`InvitationGone` when it no longer reaches ``user``.
        """
        key, _, addressee = invitation_id.strip().partition(".")
        share = self._shares.share_with_key(key) if key else None
        if share is None or share.basis is not ShareBasis.INVITATION:
            raise InvitationGone(f"invitation {names.shown(invitation_id)} no longer exists: "
                                 "the owner withdrew it or stopped sharing")
        if addressee != user:
            raise Forbidden(f"invitation {names.shown(invitation_id)} was sent to someone else; "
                            f"{user!r} may answer only their own invitations")
        if not any(r.share.id == share.id for r in self._reaching(user, share.collection)):
            raise InvitationGone(f"invitation {names.shown(invitation_id)} no longer reaches {user!r} "
                                 "(no longer a member of the circle it was sent to?)")
        return share.collection

    # -- the owner's view -------------------------------------------------------

    def people(self, collection: str, *, actor: str | None = None) -> list[Person]:
        """Everyone ``collection`` is shared with, and where each stands (owner or admin only)."""
        owner, collection = names.collection_path(collection)
        as_owner(owner, actor, "see who a collection is shared with")
        return self.people_of_shares(self._shares.shares_of(collection))

    def people_of_shares(self, shares: Iterable[Share]) -> list[Person]:
        """Where each person reached by ``shares`` (of one collection) stands."""
        shares = list(shares)
        return self.people_by_collection(shares).get(shares[0].collection, []) if shares else []

    def people_by_collection(self, shares: Iterable[Share]) -> dict[str, list[Person]]:
        """:meth:`people_of_shares` for the shares of several collections at once (a home's), by
        collection, in a few queries whatever their number."""
        shares = list(shares)
        answers: dict[tuple[int, str], InvitationState] = {}
        ids = [share.id for share in shares]
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            answers.update({(r[0], r[1]): InvitationState(r[2]) for r in self._db.read(
                f"SELECT share_id, user, state FROM invitations WHERE share_id IN ({','.join('?' * len(part))})",
                part)})
        members = self._circles.members_of(s.grantee.name for s in shares if s.grantee.kind is GranteeKind.CIRCLE)
        found: dict[str, dict[str, list[tuple[Share, Standing]]]] = {}
        for share in shares:
            reached = ({share.grantee.name} if share.grantee.kind is GranteeKind.USER
                       else members.get(share.grantee.name, frozenset()))
            for user in reached - {share.owner}:
                in_scope = share.basis is ShareBasis.SUBSCRIPTION and self._in_scope(user, share.collection)
                standing = _standing(share, answers.get((share.id, user)), in_scope)
                found.setdefault(share.collection, {}).setdefault(user, []).append((share, standing))
        return {collection: [_person(user, entries) for user, entries in sorted(by_user.items())]
                for collection, by_user in found.items()}

    # -- the owner's changes, with the notices they send -------------------------

    def change_role(self, collection: str, grantee: Grantee, role: Role, *, actor: str | None = None) -> Share:
        """Change the role; people who accepted are told their new access."""
        return self._shares.change_role(collection, grantee, role, actor=actor,
                                        notify=lambda w, share: self._tell(w, share, "accepted", accepted_only=True))

    def withdraw(self, collection: str, grantee: Grantee, *, actor: str | None = None) -> Share:
        """Stop sharing; people with a pending or accepted invitation are told."""
        return self._shares.remove(collection, grantee, actor=actor,
                                   notify=lambda w, share: self._tell(w, share, "deleted", accepted_only=False))

    def invite_participants(self, collection: str, participants: Iterable[str]) -> list[str]:
        """Invite (as subscribers) the users among an event's participants who may subscribe to
        ``collection`` (its subscription scope) and are not reached by a share of it yet."""
        owner, collection = names.collection_path(collection)
        invited = []
        for address in dict.fromkeys(participants):
            try:
                user = addresses.user_for_address(address, self._user_exists)
            except ExtError:
                continue
            if user == owner or user in invited or not self._in_scope(user, collection):
                continue
            if self._shares.reaches(user, self._circles.circles_of(user), collection=collection):
                continue
            self._shares.add(collection, Grantee(GranteeKind.USER, user), Role.SUBSCRIBER, actor=owner,
                             basis=ShareBasis.INVITATION, summary="You take part in an event of this calendar")
            invited.append(user)
        return invited

    @staticmethod
    def forget_user(w: Writer, user: str) -> None:
        w.execute("DELETE FROM invitations WHERE user = ?", (user,))

    # -- helpers ------------------------------------------------------------------

    def _decide(self, user: str, collection: str, to: InvitationState, invitation_id: str | None,
                summary: str) -> str:
        if invitation_id is not None:
            answered = self.collection_of(user, invitation_id)
            if answered != collection:
                raise ExtError(f"invitation {names.shown(invitation_id)} is about {answered}, not {collection}")
        reaching = [r for r in self._reaching(user, collection) if r.share.basis is ShareBasis.INVITATION]
        if not reaching:
            raise NotFound(f"{user!r} has no invitation to {collection}")
        states = {r.state or InvitationState.PENDING for r in reaching}
        if states == {to}:
            return collection  # said twice: nothing changes, nobody is told again
        if not states & _ALLOWED[to]:
            word = {InvitationState.ACCEPTED: "accept", InvitationState.DECLINED: "decline",
                    InvitationState.REMOVED: "remove"}[to]
            raise Conflict(f"cannot {word} the invitation to {collection}: "
                           f"{_REFUSAL.get(to, 'it is ' + ', '.join(sorted(s.value for s in states)))}")
        now = int(time.time())
        with self._db.write() as w:
            for r in reaching:
                w.execute("INSERT INTO invitations(share_id, user, state, dismissed, updated_at)"
                          " VALUES (?, ?, ?, 0, ?) ON CONFLICT(share_id, user)"
                          " DO UPDATE SET state = excluded.state, dismissed = 0, updated_at = excluded.updated_at",
                          (r.share.id, user, to.value, now))
            if to is InvitationState.ACCEPTED:
                self._shares.taken_in(w, user, collection)
            share = reaching[0].share
            self._notices.add(w, share.owner, NoticeKind.INVITATION_REPLY, {
                "sharee": user, "state": to.value, "collection": collection, "owner": share.owner,
                "in_reply_to": (invitation_id or share.invitation_id(user)), "summary": summary.strip()[:1000]})
        return collection

    def _reaching(self, user: str, collection: str) -> list[Reach]:
        return self._shares.reaches(user, self._circles.circles_of(user), collection=collection)

    def reached_by(self, grantee: Grantee) -> frozenset[str]:
        """The people a share with ``grantee`` reaches: the user it names, or the circle's members now."""
        if grantee.kind is GranteeKind.USER:
            return frozenset({grantee.name})
        return self._circles.get(grantee.name).members if self._circles.exists(grantee.name) else frozenset()

    def _members(self, share: Share) -> frozenset[str]:
        return self.reached_by(share.grantee)

    def _tell(self, w: Writer, share: Share, status: str, *, accepted_only: bool) -> None:
        """Inside ``w``: an invite-notification about ``share`` to each person its invitations reach."""
        if share.basis is not ShareBasis.INVITATION:
            return
        answers = {r[0]: InvitationState(r[1]) for r in w.execute(
            "SELECT user, state FROM invitations WHERE share_id = ?", (share.id,)).fetchall()}
        for user in sorted(self._members(share) - {share.owner}):
            state = answers.get(user, InvitationState.PENDING)
            if state is InvitationState.ACCEPTED or (not accepted_only and state is InvitationState.PENDING):
                self._notices.add(w, user, NoticeKind.INVITATION, invitation_notice(share, user, status))

    @staticmethod
    def _invitation(r: Reach) -> Invitation:
        return Invitation(share=r.share, user=r.user, state=r.state or InvitationState.PENDING,
                          dismissed=r.dismissed, updated_at=r.answered_at)
