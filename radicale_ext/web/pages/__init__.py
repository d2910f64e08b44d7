"""The page's pages, one module per thing a person does; each registers its routes
(:mod:`radicale_ext.web.routes`) and is named in :data:`radicale_ext.web.app.PAGES`."""
