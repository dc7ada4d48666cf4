"""`basewatch scan` reports: table, JSON, SARIF, CycloneDX with vulnerabilities, Markdown
(formats.py picks one; summary.py holds what they share)."""
