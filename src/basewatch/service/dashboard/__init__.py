"""The dashboard served by `basewatch serve` at `/`: server-rendered pages over the same
database, tokens and roles as the API."""
