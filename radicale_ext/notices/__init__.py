"""Change notices: the outbox of every change, composing bursts into notices, who hears
(fan-out), each person's preferences, the delivery queue and its worker, the words, and the
channels (e-mail, webhooks, WebDAV-Push with its Web Push crypto and subscriptions)."""

MAY_IMPORT: tuple[str, ...] = ("base", "sharing")
