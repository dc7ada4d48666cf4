"""The vulnerability database: OSV records and enrichment feeds in one SQLite file."""
