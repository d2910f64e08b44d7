"""Typed records of the sharing model, in the users' words."""

from __future__ import annotations

import enum
from dataclasses import dataclass


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

    def mount_path(self, user: str) -> str:
        return f"/{user}/{self.mount}/"


@dataclass(frozen=True)
class Grant:
    """The effective access of one user to one shared collection."""

    owner: str
    collection: str
    mount: str
    role: Role
    via: tuple[str, ...]     # "direct" and/or "circle:<name>" entries

    def mount_path(self, user: str) -> str:
        return f"/{user}/{self.mount}/"


@dataclass(frozen=True)
class Circle:
    name: str
    origin: CircleOrigin
    members: frozenset[str]
    managers: frozenset[str]
