"""The HTTP side every service shares: app factory, problems, middleware, operations, auth, idempotency."""
