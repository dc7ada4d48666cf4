"""The fleet: `basewatch worker` processes on any number of machines, sharing the service's
PostgreSQL (its task queue, per-layer analyses and registry budgets)."""
