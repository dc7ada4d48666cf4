"""basewatch: container base-image security."""

__version__ = "0.1.0"
