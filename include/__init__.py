"""Project code imported by the DAGs (Astro puts the project root on sys.path)."""
