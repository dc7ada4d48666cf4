"""basewatch image."""
