"""My card (issue 14, item 6): which of my cards is me, which fields each circle or person I share it
with sees (with a preview of what they see), and, for the cards others share with me, "ask me first"
and the changes waiting for my answer.

Every read and change is the core's (:class:`radicale_ext.cards.me_cards.CardBook`,
:class:`radicale_ext.cards.shared_contacts.SharedContacts`) with the person as its actor.  Forms name
whose card (``owner``) or whose answer (``user``) they are about, and the core refuses anyone but that
person (403), whatever a form says.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...base.errors import ExtError
from ...base.model import Grantee, GranteeKind
from ...cards.me_cards import Audience, Candidate, CardOverview, Preview, grantee_of
from ...cards.projection import EVERYTHING, FieldChoice, Selector, choice_words, parse_fields
from ..context import PageContext
from ..http import Response
from ..i18n import N_
from ..routes import action, page

NAV_ENTRY = ("/card", N_("My card"))
FIELD = "field:"        # a field's checkbox is named "field:TEL cell"
NEW = "new"             # the audience key of the form that adds one
KINDS = {"circle": GranteeKind.CIRCLE, "user": GranteeKind.USER}
EVERYTHING_ENTRY = str(EVERYTHING[0])
DEFAULT_FIELDS = ("FN",)  # what a new audience's boxes start with: the name, without which nothing shows
SHOWN_PER_BOOK = 50      # cards listed per address book to choose from; "find" narrows by name
MAX_FIND = 100           # characters of a name to find that count (no card name is longer in practice)


@dataclass(frozen=True)
class Box:
    """One checkbox of an audience's form."""

    entry: str                      # "TEL cell": an entry of the field list
    words: str                      # "mobile number"
    values: tuple[str, ...]         # the card's values of it
    picture: bool
    ticked: bool
    missing: bool = False           # chosen before, but the card has no such field now


@dataclass(frozen=True)
class Book:
    """An address book's cards to choose from, as listed: at most SHOWN_PER_BOOK, the me card always."""

    collection: str
    name: str
    cards: tuple[Candidate, ...]
    more: int                       # cards not listed: find them by name
    shared: bool


@dataclass(frozen=True)
class AudienceForm:
    key: str                        # "circle:family", "user:bob", or NEW
    grantee: Grantee | None         # None for the form that adds one
    boxes: tuple[Box, ...]
    preview: Preview | None
    unsaved: bool                   # the preview shows boxes ticked but not saved


def key_of(grantee: Grantee) -> str:
    return f"{grantee.kind.value}:{grantee.name}"


def ticked(form: dict[str, str]) -> list[str]:
    """The entries of the field list whose boxes the form ticked."""
    return [name.removeprefix(FIELD) for name in form if name.startswith(FIELD)]


def _boxes(choices: tuple[FieldChoice, ...], chosen: tuple[Selector, ...] | list[str]) -> tuple[Box, ...]:
    entries = {str(s) for s in chosen}
    offered = [Box(str(c.selector), c.words, c.values, c.picture, str(c.selector) in entries) for c in choices]
    known = {box.entry for box in offered} | {EVERYTHING_ENTRY}
    for entry in sorted(entries - known):
        try:
            selector = parse_fields(entry)[0]
        except ExtError:
            continue
        offered.append(Box(str(selector), choice_words(selector), (), False, True, missing=True))
    everything = Box(EVERYTHING_ENTRY, "everything", (), False, EVERYTHING_ENTRY in entries)
    return (*offered, everything)


def _audience_forms(overview: CardOverview, previewing: tuple[str, list[str], Preview] | None) -> list[AudienceForm]:
    forms = []
    for audience, preview in overview.audiences:
        key = key_of(audience.grantee)
        if previewing is not None and previewing[0] == key:
            forms.append(AudienceForm(key, audience.grantee, _boxes(overview.choices, previewing[1]),
                                      previewing[2], True))
        else:
            forms.append(AudienceForm(key, audience.grantee, _boxes(overview.choices, audience.selectors),
                                      preview, False))
    return forms


def _new_form(overview: CardOverview, previewing: tuple[str, list[str], Preview] | None,
              entered: dict[str, str]) -> AudienceForm:
    if previewing is not None and previewing[0] == NEW:
        return AudienceForm(NEW, None, _boxes(overview.choices, previewing[1]), previewing[2], True)
    chosen = ticked(entered) if entered else list(DEFAULT_FIELDS)
    return AudienceForm(NEW, None, _boxes(overview.choices, chosen), None, False)


def _books(ctx: PageContext, candidates: list[Candidate], find: str, overview: CardOverview) -> list[Book]:
    """The cards to choose from by address book: those whose name holds ``find`` (all without it), at
    most SHOWN_PER_BOOK of each book, the me card always among them; a book with none of them is left out."""
    by_book: dict[str, list[Candidate]] = {}
    for candidate in candidates:
        by_book.setdefault(candidate.collection, []).append(candidate)
    me = overview.me
    books = []
    for collection, cards in by_book.items():
        matching = [c for c in cards if c.named_like(find)]
        shown = matching[:SHOWN_PER_BOOK]
        if me is not None and me.collection == collection and not any(c.href == me.href for c in shown):
            shown += [c for c in cards if c.href == me.href]
        if shown:
            books.append(Book(collection, cards[0].book, tuple(shown), max(0, len(matching) - SHOWN_PER_BOOK),
                              bool(ctx.web.site.shares.shares_of(collection))))
    return books


def _my_circles(ctx: PageContext) -> list[str]:
    """The circles the person is in or manages: those offered when adding an audience."""
    circles = ctx.web.site.circles
    mine = set(circles.circles_of(ctx.user))
    mine.update(c.name for c in circles.list() if ctx.user in c.managers)
    return sorted(mine, key=str.casefold)


def _page(ctx: PageContext, status: int = 200, *, problem: ExtError | None = None,
          previewing: tuple[str, list[str], Preview] | None = None, entered: dict[str, str] | None = None,
          ) -> Response:
    site, user = ctx.web.site, ctx.user
    overview = site.cards.overview(user, actor=user)
    candidates = site.cards.candidates(user, actor=user)
    book_name = next((c.book for c in candidates if overview.me and c.collection == overview.me.collection),
                     overview.me.collection.strip("/") if overview.me else "")
    find = " ".join(ctx.request.arg("find").split())[:MAX_FIND]
    books = _books(ctx, candidates, find, overview)
    readers: list[tuple[str, tuple[Selector, ...]]] = []
    if overview.me is not None:
        people = {p for share in site.shares.shares_of(overview.me.collection)
                  for p in site.cards.people_of(share.grantee)}
        exposure = site.cards.share_exposure(overview.me.collection, people, site.circles.circles_of)
        readers = list(exposure.seen) if exposure is not None else []
    contacts = site.shared_contacts
    return ctx.render(
        "card.html", status, overview=overview, owner=user, books=books, find=find, candidates=bool(candidates),
        found=any(c.named_like(find) for c in candidates),
        many=bool(find) or any(b.more for b in books), book_name=book_name, readers=readers, everything=EVERYTHING,
        audiences=_audience_forms(overview, previewing),
        new=_new_form(overview, previewing, entered or {}), entered=entered or {}, circles=_my_circles(ctx),
        senders=contacts.senders(user, actor=user), modes=contacts.modes(user, actor=user),
        pending=contacts.pending(user, actor=user), problem=problem,
        done=ctx.request.arg("done"), done_name=ctx.request.arg("name"), FIELD=FIELD, NEW=NEW)


# -- my card -----------------------------------------------------------------------------------


@page("/card")
def my_card(ctx: PageContext) -> Response:
    return _page(ctx)


@action("/card/me")
def choose(ctx: PageContext) -> Response:
    """Make one of my cards my me card (``card``: "/alice/Kontakte/me.vcf")."""
    form = ctx.request.form()
    collection, _slash, href = form.get("card", "").rpartition("/")
    try:
        if not collection or not href:
            raise ExtError("choose one of your cards")
        me = ctx.web.site.cards.set_me(collection + "/", card=href, actor=ctx.user)
    except ExtError as e:
        if e.status == 403:
            raise
        return _page(ctx, e.status, problem=e)
    return ctx.redirect("/card", done="chosen", name=str(me))


@page("/card/stop")
def confirm_stop(ctx: PageContext) -> Response:
    overview = ctx.web.site.cards.overview(ctx.user, actor=ctx.user)
    if overview.me is None:
        return ctx.redirect("/card")
    losing = sorted(ctx.web.site.cards.recipients(ctx.user), key=str.casefold)
    return ctx.render("card_stop.html", overview=overview, owner=ctx.user, losing=losing)


@action("/card/stop")
def stop(ctx: PageContext) -> Response:
    ctx.web.site.cards.unset_me(ctx.request.form().get("owner", ""), actor=ctx.user)
    return ctx.redirect("/card", done="stopped")


# -- audiences ---------------------------------------------------------------------------------


def _share(ctx: PageContext, grantee: Grantee, form: dict[str, str], done: str) -> Response:
    fields = ticked(form)
    try:
        if not fields:
            raise ExtError("tick at least one field (the name, for a start), or stop sharing with them")
        audience: Audience = ctx.web.site.cards.share(form.get("owner", ""), grantee, ", ".join(fields),
                                                     actor=ctx.user)
    except ExtError as e:
        if e.status == 403:
            raise
        return _page(ctx, e.status, problem=e, entered=form if done == "added" else None)
    return ctx.redirect("/card", done=done, name=audience.grantee.name)


@action("/card/audience")
def save_fields(ctx: PageContext) -> Response:
    form = ctx.request.form()
    return _share(ctx, grantee_of(form.get("audience", "")), form, "saved")


@action("/card/audience/add")
def add_audience(ctx: PageContext) -> Response:
    form = ctx.request.form()
    kind = KINDS.get(form.get("kind", ""))
    if kind is None:
        return _page(ctx, 400, problem=ExtError("choose a circle or a person"), entered=form)
    return _share(ctx, Grantee(kind, form.get("name", "").strip()), form, "added")


@action("/card/audience/remove")
def remove_audience(ctx: PageContext) -> Response:
    form = ctx.request.form()
    grantee = grantee_of(form.get("audience", ""))
    ctx.web.site.cards.unshare(form.get("owner", ""), grantee, actor=ctx.user)
    return ctx.redirect("/card", done="removed", name=grantee.name)


@action("/card/preview")
def preview(ctx: PageContext) -> Response:
    """What an audience would see with the boxes ticked, nothing saved: the whole page (the form's
    Preview button, without JavaScript), or only the preview (``part=preview``, for card.js)."""
    form = ctx.request.form()
    key, fields = form.get("audience", ""), ticked(form)
    try:
        shown = ctx.web.site.cards.preview(form.get("owner", ""), fields, actor=ctx.user)
    except ExtError as e:
        if e.status == 403 or form.get("part") == "preview":
            raise
        return _page(ctx, e.status, problem=e)
    if form.get("part") == "preview":
        grantee = None if key == NEW else grantee_of(key)
        return ctx.render("card_preview.html", preview=shown, grantee=grantee, unsaved=True)
    return _page(ctx, previewing=(key, fields, shown), entered=form if key == NEW else None)


# -- cards others share with me ----------------------------------------------------------------


@action("/card/ask-first")
def ask_first(ctx: PageContext) -> Response:
    """Whether changes of every card (``from`` empty) or of one person's wait for my answer."""
    form = ctx.request.form()
    on, whose = form.get("ask") == "on", form.get("from") or None
    ctx.web.site.shared_contacts.ask_first(form.get("user", ""), on, whose, actor=ctx.user)
    return ctx.redirect("/card", done="asking" if on else "not-asking", name=whose or "")


@action("/card/accept")
def accept(ctx: PageContext) -> Response:
    form = ctx.request.form()
    update = ctx.web.site.shared_contacts.accept(form.get("user", ""), form.get("from", ""), actor=ctx.user)
    return ctx.redirect("/card", done="accepted", name=update.name)


@action("/card/decline")
def decline(ctx: PageContext) -> Response:
    form = ctx.request.form()
    update = ctx.web.site.shared_contacts.decline(form.get("user", ""), form.get("from", ""), actor=ctx.user)
    return ctx.redirect("/card", done="declined", name=update.name)
