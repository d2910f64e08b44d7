"""The ways a change notice reaches a person besides their notification collection.

Each channel is a *sender* with one method, :meth:`Sender.send`, that hands
one :class:`Outgoing` (one delivery, or a digest of several for the same
person) to the outside world and returns when it was accepted, or raises:

- :class:`DeliveryFailed` (``permanent`` or not): the worker retries a
  temporary failure with back-off and dead-letters a permanent one;
- :class:`RecipientGone`: there is nobody to deliver to any more (a push
  subscription the push service no longer knows); the delivery is dropped.

The notification collection itself is written when a notice is handed out
(:mod:`radicale_ext.notices.fanout`), not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ...base.errors import ExtError
from ..changes import ChangeNotice
from ..delivery import Delivery
from ..preferences import Contact


class DeliveryFailed(ExtError):
    """An attempt that did not reach its receiver; ``permanent`` when trying again cannot help."""

    status = 502

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class RecipientGone(ExtError):
    """The receiver no longer exists (a push subscription removed by its push service)."""

    status = 410


@dataclass(frozen=True)
class Outgoing:
    """What one attempt sends: one delivery, or a digest's deliveries to one person on one channel."""

    deliveries: tuple[Delivery, ...]
    notices: tuple[ChangeNotice, ...]     # the notices they carry, oldest first
    contact: Contact

    @property
    def recipient(self) -> str:
        return self.deliveries[0].recipient

    @property
    def key(self) -> str:
        """The idempotency key: the delivery's, or for a digest its first delivery's and the count."""
        first = self.deliveries[0].key
        return first if len(self.deliveries) == 1 else f"{first}+{len(self.deliveries)}"

    @property
    def digest(self) -> str:
        return self.deliveries[0].digest


class Sender(Protocol):
    def send(self, outgoing: Outgoing, now: float) -> None:
        """Deliver, or raise :class:`DeliveryFailed` / :class:`RecipientGone`."""

    def close(self) -> None:
        """Let go of connections kept between sends (called after each batch)."""
