"""A person's own calendars and address books: list, create, rename, recolour and delete them,
with the rule (only the owner, or the admin) inside each operation, for the command line and the
web page alike; how the folders are written is handed in (Radicale's storage in the server, its
folder layout under its lock from the command line)."""

MAY_IMPORT: tuple[str, ...] = ("base", "sharing", "links", "notices")
