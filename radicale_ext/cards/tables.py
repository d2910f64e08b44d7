"""The tables of the cards feature, for :data:`radicale_ext.site.FEATURE_SCHEMAS`, and forgetting a person."""

from __future__ import annotations

from ..base.database import Writer
from . import consent, me_cards, name_index, shared_contacts, through_shares

SCHEMAS: tuple[str, ...] = (me_cards.SCHEMA, consent.SCHEMA, name_index.SCHEMA, shared_contacts.SCHEMA,
                            through_shares.SCHEMA)


def forget_user(w: Writer, user: str) -> None:
    """Inside ``w``: the user's me card, audiences, choices and views."""
    for book in (me_cards.CardBook, consent.ConsentBook, name_index.NameIndex, shared_contacts.SharedContacts,
                 through_shares.CardThroughShares):
        book.forget_user(w, user)
