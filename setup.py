"""Packaging of the ingest pipeline's code for Dataflow workers (``--setup_file``, see include/beam/options.py).

Dataflow runs ``python setup.py sdist`` at launch and installs the result on every worker, so the
pickled DoFns find ``include.beam`` and the shared ``include.gcp`` there. Only those two packages
ship: the workers need no Airflow, dbt or ML code. Third-party dependencies (google-cloud-bigquery,
google-cloud-pubsub) come with Beam's own worker image for the launching Beam version, so none are
listed; name and version come from pyproject.toml.
"""

from setuptools import setup

setup(packages=["include", "include.beam", "include.gcp"])
