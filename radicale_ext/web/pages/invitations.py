"""Invitations (issue 14, item 3): what others offered me, and the calendars I may subscribe to.

- Waiting for an answer: who offers what, in which role, to me or through which circle; accept or
  decline, or leave it for later (it stays pending, here and in my clients' notifications).
- In my home from others: where, in which role; remove it from my home ("unshare from me": an
  accepted invitation goes to "removed", a subscription ends); what was shared at once stays until
  its owner stops sharing it.
- Declined or removed: accept after all.
- Calendars and address books open to me (a subscription scope I am in), each with a "subscribed"
  check that subscribes or unsubscribes.

Every answer is the core's operation for the logged-in person (:class:`radicale_ext.sharing.invitations.
InvitationBook`, :class:`radicale_ext.sharing.scopes.ScopeBook`), the same the command line calls;
a form can only ever answer the person's own invitations.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...base import names
from ...base.model import Grant, Invitation, InvitationState
from ...site import Site
from ..context import PageContext
from ..http import Response
from ..i18n import N_
from ..routes import action, page
from .calendars import ROLES

NAV_ENTRY = ("/invitations", N_("Invitations"))
DONE = {"accepted": N_("Accepted “%(name)s”: it is in your home now."),
        "declined": N_("Declined “%(name)s”."),
        "removed": N_("Removed “%(name)s” from your home; its owner's data is unchanged."),
        "subscribed": N_("Subscribed to “%(name)s”."),
        "unsubscribed": N_("No longer subscribed to “%(name)s”.")}


@dataclass(frozen=True)
class Offer:
    """One collection offered to me, with every invitation of it that reaches me (to me, to my circles)."""

    collection: str
    owner: str
    name: str                        # the owner's name for it
    calendar: bool
    path: str                        # where it is (or would be) in my home
    invitations: tuple[Invitation, ...]

    @property
    def states(self) -> frozenset[InvitationState]:
        return frozenset(i.state for i in self.invitations)

    @property
    def pending(self) -> bool:
        return InvitationState.PENDING in self.states

    @property
    def accepted(self) -> bool:
        return InvitationState.ACCEPTED in self.states


@dataclass(frozen=True)
class InMyHome:
    grant: Grant
    name: str                        # my name for it (my own view), else the owner's
    calendar: bool
    path: str
    accepted: bool                   # through an invitation I accepted: I may remove it
    subscribed: bool                 # through my own subscription: I may unsubscribe


def _name(site: Site, collection: str) -> str:
    return site.display_name(collection) or collection.strip("/").split("/")[-1]


def _offers(site: Site, user: str, incoming: list[Invitation]) -> list[Offer]:
    by_collection: dict[str, list[Invitation]] = {}
    for invitation in incoming:
        by_collection.setdefault(invitation.share.collection, []).append(invitation)
    return [Offer(collection=c, owner=found[0].share.owner, name=_name(site, c),
                  calendar=site.collection_tag(c) != "VADDRESSBOOK",
                  path=f"/{user}/{site.shares.placed_mount(user, found[0].share.mount)}/", invitations=tuple(found))
            for c, found in sorted(by_collection.items())]


@page("/invitations")
def invitations(ctx: PageContext) -> Response:
    site, user = ctx.web.site, ctx.user
    offers = _offers(site, user, site.invitations.incoming(user, actor=user))
    accepted = {o.collection for o in offers if o.accepted}
    home = [InMyHome(grant=g, name=g.properties.get("D:displayname") or _name(site, g.collection),
                     calendar=site.collection_tag(g.collection) != "VADDRESSBOOK", path=g.mount_path(user),
                     accepted=g.collection in accepted, subscribed="subscription" in g.via)
            for g in site.invitations.shared_with(user, actor=user)]
    done = ctx.request.arg("done")
    return ctx.render("invitations.html", waiting=[o for o in offers if o.pending],
                      answered=[o for o in offers if not o.pending and not o.accepted], home=home,
                      open_to_me=site.scopes.subscribable(user, actor=user), roles=ROLES,
                      done=DONE.get(done), done_name=ctx.request.arg("name"))


def _answer(ctx: PageContext, done: str) -> Response:
    collection = names.collection_path(ctx.request.form().get("collection", ""))[1]
    site, user = ctx.web.site, ctx.user
    if done == "accepted":
        site.invitations.accept(user, collection, actor=user)
    elif done == "declined":
        site.invitations.decline(user, collection, actor=user)
    else:
        site.invitations.remove_from_home(user, collection, actor=user)
    return ctx.redirect("/invitations", done=done, name=_name(site, collection))


@action("/invitations/accept")
def accept(ctx: PageContext) -> Response:
    return _answer(ctx, "accepted")


@action("/invitations/decline")
def decline(ctx: PageContext) -> Response:
    return _answer(ctx, "declined")


@action("/invitations/remove")
def remove(ctx: PageContext) -> Response:
    """Unshare from me: an accepted invitation leaves my home (the owner sees "removed")."""
    return _answer(ctx, "removed")


@action("/invitations/subscription")
def subscription(ctx: PageContext) -> Response:
    """The "subscribed" check: ticked, subscribe; not ticked, unsubscribe."""
    form = ctx.request.form()
    collection = names.collection_path(form.get("collection", ""))[1]
    site, user = ctx.web.site, ctx.user
    if form.get("subscribed") == "yes":
        site.scopes.subscribe(user, collection, actor=user)
        done = "subscribed"
    else:
        site.scopes.unsubscribe(user, collection, actor=user)
        done = "unsubscribed"
    return ctx.redirect("/invitations", done=done, name=_name(site, collection))
