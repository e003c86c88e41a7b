"""The ingest pipeline: the code that runs in the pipeline's process (Dataflow workers, or the local
DirectRunner process), shipped to the workers by ``setup.py`` with the event contract.

Nothing here is imported by this ``__init__``: job control (:mod:`include.beam.control`) reads the
module names below without importing Beam.
"""

PIPELINE_MODULE = "include.beam.pipeline.pipeline"  # ``python -m include.beam.pipeline.pipeline <argv>``
DRAINABLE_PIPELINE = "include.beam.pipeline.stream_drain"  # the same pipeline, with SIGINT as a drain (DirectRunner)
