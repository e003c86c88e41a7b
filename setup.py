"""Packaging of the ingest pipeline's code for Dataflow workers (``--setup_file``, see include/beam/control/launch.py).

Dataflow runs ``python setup.py sdist`` at launch and installs the result on every worker, so the
pickled DoFns find their code there. Only what runs on the workers ships: the pipeline package
(``include.beam.pipeline``) and the event contract it imports (``include.gcp.events`` and the
table schemas of ``include.gcp.tables``), with their parent packages' ``__init__``. Not the job control
(``include.beam.control``, it runs in Airflow), not the settings (the pipeline gets everything as
flags), no Airflow, dbt or ML code. Third-party dependencies (google-cloud-bigquery,
google-cloud-pubsub) come with Beam's own worker image for the launching Beam version, so none are
listed; name and version come from pyproject.toml. tests/beam/pipeline/test_worker_package.py checks the list.
"""

from setuptools import setup

setup(
    packages=["include.beam.pipeline"],
    # single modules, so that the rest of include/ and include/gcp/ (settings, clients, ...) stays home;
    # the parents' __init__ keep ``include`` and ``include.beam`` regular packages on the workers
    py_modules=[
        "include.__init__",
        "include.beam.__init__",
        "include.gcp.events",
        "include.gcp.tables",
        "include.systems",  # DEFAULT_SYSTEM and the id form; the table itself comes as --systems
    ],
)
