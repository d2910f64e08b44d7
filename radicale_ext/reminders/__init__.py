"""Reminders: when each VALARM of a shared calendar is due (recurring series expanded in a
rolling window), told once to every person who has the calendar, through the notice channels."""

MAY_IMPORT: tuple[str, ...] = ("base", "sharing", "notices")
