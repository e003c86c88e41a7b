"""The dbt feature store (project files in this folder) and the Python helpers that run it."""
