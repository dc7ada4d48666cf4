"""`basewatch serve`: the self-hosted service that keeps watch over images and their bases.

An adapter beside `cli/`: it stores what it learns (SQLAlchemy 2, SQLite or PostgreSQL, the
schema kept by Alembic migrations), serves a JSON API (FastAPI on uvicorn), and calls the same
jobs as the command line.
"""
