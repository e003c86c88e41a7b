"""The research tests reuse the dbt tests' real Citi Bike slice (1-3 September 2019, Jersey City)."""

from tests.dbt.conftest import trip_events  # noqa: F401  (a session fixture, shared)
