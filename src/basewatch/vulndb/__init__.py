"""The vulnerability database: OSV records and enrichment feeds in one SQLite file."""

# What `db update` downloads when told no ecosystem, holds none and knows no image: the
# ecosystems most base images and the programs on them draw from.
COMMON_ECOSYSTEMS = ("Debian", "Ubuntu", "Alpine", "PyPI", "npm", "Go", "Maven", "crates.io")
# `db status` warns about sources older than this many days.
DEFAULT_MAX_AGE_DAYS = 7.0
