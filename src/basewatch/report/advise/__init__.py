"""`basewatch advise` reports: table, JSON, Markdown (formats.py picks one; cells.py holds what
they share)."""
