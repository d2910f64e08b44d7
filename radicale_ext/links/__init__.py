"""Share links: tokens, the links of a calendar, event, address book or card, reading one
without an account (feeds, free/busy), QR codes, and slowing down whoever guesses."""

MAY_IMPORT: tuple[str, ...] = ("base", "sharing")
