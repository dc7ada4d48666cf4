"""basewatch report."""

from basewatch.report.base import Format, Reporter, reporter_for

__all__ = ["Format", "Reporter", "reporter_for"]
