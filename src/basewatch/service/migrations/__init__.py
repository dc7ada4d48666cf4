"""Alembic migrations of the service's schema (run at start by `basewatch.service.db`)."""
