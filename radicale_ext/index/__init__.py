"""The item index beside Radicale's files: what each item file holds, a change log per
collection, kept fresh by watching the folders; answers listings and pre-filters queries."""

MAY_IMPORT: tuple[str, ...] = ("base",)
