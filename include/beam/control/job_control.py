"""One interface for the streaming ingest job: start it (idempotently), ask its state, drain it.

The ``bikeshare_stream`` DAG drives whatever :func:`streaming_job` returns and never knows which
backend it is: :class:`~include.beam.control.stream_local.LocalStreamingJob` runs the pipeline on the
DirectRunner as a background process (``local`` profile), and
:class:`~include.beam.control.stream_dataflow.DataflowStreamingJob` runs it on Dataflow (``gcp`` profile).
Their shared types (:class:`~include.beam.control.job.StreamingJob`, ``JobState``, ``JobInfo``,
``JobControlError``) live in :mod:`include.beam.control.job`, which the backends import; this module
imports the backends.

Both identify the job by one fixed name (:attr:`IngestSettings.job_name
<include.beam.control.settings.IngestSettings.job_name>`), so a retry or a second
trigger finds the running job instead of launching a duplicate.
"""

from __future__ import annotations

from include.beam.control.job import StreamingJob
from include.beam.control.settings import IngestSettings
from include.beam.control.stream_dataflow import DataflowStreamingJob
from include.beam.control.stream_local import LocalStreamingJob
from include.gcp.settings import Settings, get_settings


def streaming_job(settings: Settings | None = None, ingest: IngestSettings | None = None) -> StreamingJob:
    """The streaming job of the active profile: local background process or Dataflow.

    ``ingest`` defaults to the environment's (read on each call, so a DAG task sees its worker's).
    """
    s = settings or get_settings()
    if s.is_local:
        return LocalStreamingJob(s, ingest)
    return DataflowStreamingJob(s, ingest)
