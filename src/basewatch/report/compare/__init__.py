"""`basewatch compare` reports: table, JSON, Markdown, HTML with a chart (formats.py picks one;
cells.py holds what they share)."""
