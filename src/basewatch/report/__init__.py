"""basewatch report."""
