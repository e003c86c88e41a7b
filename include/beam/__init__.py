"""The streaming ingest, in two packages with different runtimes.

- :mod:`include.beam.pipeline`: the Beam pipeline itself (options, transforms, the DirectRunner
  patches, the local drain wrapper). It runs in the pipeline's own process: on Dataflow workers, or
  locally as a background DirectRunner process. ``setup.py`` ships it to the workers with the event
  contract (:mod:`include.gcp.events`, :mod:`include.gcp.tables`) and nothing else.
- :mod:`include.beam.control`: job control that runs in Airflow (and ``make stream-*``): the argv
  built from the settings, start / state / drain of the local or Dataflow job, the health check.
  It never imports Beam; it starts the pipeline as ``python -m`` :data:`~include.beam.pipeline.PIPELINE_MODULE`.
"""
