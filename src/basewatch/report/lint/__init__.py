"""`basewatch lint` reports: text, JSON, SARIF, GitHub annotations (formats.py picks one)."""
