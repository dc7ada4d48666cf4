"""The vulnerability database: OSV records and enrichment feeds in one SQLite file."""

# Where `db update` downloads OSV's bulk dumps (BASE/<ECOSYSTEM>/all.zip) unless told otherwise.
# Kept here, away from the HTTP client, so the CLI can show it without importing httpx.
OSV_BASE_URL = "https://osv-vulnerabilities.storage.googleapis.com"
# `db status` warns about sources older than this many days.
DEFAULT_MAX_AGE_DAYS = 7.0
