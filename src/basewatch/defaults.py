"""The built-in defaults `Settings` starts from, and the environment variables that override
them. Kept apart from `settings.py` (TOML, URL checks) so help texts can show them cheaply."""

# Where `db update` downloads OSV's bulk dumps (BASE/<ECOSYSTEM>/all.zip) unless told otherwise.
OSV_BASE_URL = "https://osv-vulnerabilities.storage.googleapis.com"
# The end-of-life API `db update` refreshes its table from.
ENDOFLIFE_API = "https://endoflife.date/api"

# The environment variables Settings reads (through the mapping it is given).
ENV_CACHE_DIR = "BASEWATCH_CACHE_DIR"
ENV_DB = "BASEWATCH_DB"
ENV_OSV_URL = "BASEWATCH_OSV_URL"
ENV_EOL_URL = "BASEWATCH_EOL_URL"
