"""Group plugin: a user's circles (the admin's groups file and the database)."""

from __future__ import annotations

from radicale import config, group

from ._site import site_for


class Group(group.BaseGroup):
    def __init__(self, configuration: config.Configuration) -> None:
        super().__init__(configuration)
        self._site = site_for(configuration)

    def _groups(self, login: str) -> set[str]:
        return set(self._site.circles.circles_of(login))
