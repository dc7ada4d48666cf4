"""basewatch cli."""
