"""Packages x advisories -> findings."""
