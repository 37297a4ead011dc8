"""The aiohttp service: app factory (``entrypoints.http.app.create_app``), routes, auth, errors."""
