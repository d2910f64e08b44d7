"""What every feature stands on: typed records, names, errors, the database seam, users,
Radicale's folders and INI file, XML names, content lines.  Imports no feature."""

MAY_IMPORT: tuple[str, ...] = ()
