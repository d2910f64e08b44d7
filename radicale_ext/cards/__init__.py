"""My card: me cards and the fields each audience sees (projection), "ask me first" consent,
each person's Shared contacts, and the directory lookup by name that honours the same rules."""

MAY_IMPORT: tuple[str, ...] = ("base", "sharing", "notices")
