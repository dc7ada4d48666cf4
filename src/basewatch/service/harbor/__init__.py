"""Harbor's Pluggable Scanner API (v1.2) in `basewatch serve`: Harbor registers basewatch as a
scanner, asks it to scan artifacts and polls the reports, which stay current as the
vulnerability data changes."""
