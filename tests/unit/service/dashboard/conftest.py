"""The dashboard's tests use the evaluation tests' store: a service database and a real
vulnerability database to publish advisories into."""

from tests.unit.service.test_evaluate import store

__all__ = ["store"]
