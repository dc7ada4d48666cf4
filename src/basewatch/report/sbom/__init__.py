"""`basewatch sbom` reports: table, basewatch JSON, CycloneDX and SPDX (formats.py picks one)."""
