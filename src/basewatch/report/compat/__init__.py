"""`basewatch compat` reports: table, JSON, Markdown (formats.py picks one; causes.py holds what
they share)."""
