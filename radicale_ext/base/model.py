"""Typed records of the sharing model, in the users' words."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field


class Role(enum.Enum):
    """What a person may do with a collection shared with them."""

    SUBSCRIBER = "subscriber"      # read-only
    COLLABORATOR = "collaborator"  # read-write

    @property
    def rank(self) -> int:
        return 2 if self is Role.COLLABORATOR else 1

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise ValueError(
                f"unknown role {text!r}: use 'subscriber' (read-only) or 'collaborator' (read-write)"
            ) from None


class ShareBasis(enum.Enum):
    """How a share takes effect for the people it reaches (docs/sharing.md)."""

    AT_ONCE = "at-once"            # in their homes on the next request (the admin's choice)
    INVITATION = "invitation"      # each person accepts or declines
    SUBSCRIPTION = "subscription"  # a person in the subscription scope subscribed themselves


class InvitationState(enum.Enum):
    """Where one person stands with one invitation."""

    PENDING = "pending"    # not answered yet (also: never asked, e.g. a new circle member)
    ACCEPTED = "accepted"  # in their home
    DECLINED = "declined"  # not in their home; the owner sees "declined"
    REMOVED = "removed"    # accepted once, then removed from their home by the person


class GranteeKind(enum.Enum):
    USER = "user"
    CIRCLE = "circle"


class CircleOrigin(enum.Enum):
    """Where a circle's membership is kept."""

    DATABASE = "database"      # managed with the CLI by its managers
    GROUPS_FILE = "groups-file"  # managed by the admin in the groups file


@dataclass(frozen=True)
class Grantee:
    kind: GranteeKind
    name: str

    def __str__(self) -> str:
        return self.name if self.kind is GranteeKind.USER else f"circle:{self.name}"


@dataclass(frozen=True)
class Share:
    """A collection of ``owner`` shared with a user or a circle."""

    id: int
    owner: str
    collection: str          # owner's path, e.g. "/alice/family/"
    mount: str               # segment in each grantee's home, e.g. "family~alice"
    grantee: Grantee
    role: Role
    created_at: int
    updated_at: int
    basis: ShareBasis = ShareBasis.AT_ONCE
    summary: str = ""        # the owner's words for an invitation (CS:summary)
    key: str = ""            # random, per share: the first part of its invitations' ids

    def mount_path(self, user: str) -> str:
        return f"/{user}/{self.mount}/"

    def invitation_id(self, user: str) -> str:
        """The id (CS:uid) of the invitation this share makes to ``user``."""
        return f"{self.key}.{user}"


@dataclass(frozen=True)
class Invitation:
    """One share, as an invitation to one person, and their answer."""

    share: Share
    user: str
    state: InvitationState
    dismissed: bool = False  # the person deleted its notification without answering
    updated_at: int = 0

    @property
    def id(self) -> str:
        return self.share.invitation_id(self.user)


@dataclass(frozen=True)
class Grant:
    """The effective access of one user to one shared collection."""

    owner: str
    collection: str
    mount: str
    role: Role
    via: tuple[str, ...]     # "direct", "circle:<name>" and/or "subscription" entries
    # the user's own view of the collection's properties (name, colour), Radicale's
    # "human" tags ("D:displayname", "ICAL:calendar-color")
    properties: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)

    def mount_path(self, user: str) -> str:
        return f"/{user}/{self.mount}/"


@dataclass(frozen=True)
class Circle:
    name: str
    origin: CircleOrigin
    members: frozenset[str]
    managers: frozenset[str]
