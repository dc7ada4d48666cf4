"""Real components the service tests run against (a throwaway PostgreSQL cluster, postgres.py)."""
