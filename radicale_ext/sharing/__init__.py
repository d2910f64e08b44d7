"""Sharing: circles (and the admin's groups file), shares with subscribers and collaborators,
invitations, subscription scopes, how clients name people and collections, the stored
notices of a person's notification collection, and Apple's CalendarServer sharing XML."""

MAY_IMPORT: tuple[str, ...] = ("base",)
