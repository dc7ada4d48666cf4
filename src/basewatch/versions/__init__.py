"""Version comparison, one comparator per ecosystem; every comparison the matcher makes goes
through `comparator_for(ecosystem)`."""
