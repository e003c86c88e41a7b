"""The complete argv of the ingest pipeline for the active profile, built from the settings.

:func:`pipeline_args` is the one place that turns :class:`Settings` into the pipeline's flags
(:class:`~include.beam.pipeline.options.IngestOptions` and Beam's own), so the DAG, the tests and the
benchmark start exactly the same pipeline (DirectRunner locally, Dataflow on gcp). It runs where the
job is controlled and imports no Beam: both backends call it directly.
"""

from __future__ import annotations

from include.gcp.settings import PROJECT_ROOT, Settings
from include.gcp.tables import RAW_EVENTS, RAW_EVENTS_DEAD_LETTER

SETUP_FILE = PROJECT_ROOT / "setup.py"
LOCAL_STREAMING_KEYS = 4


def pipeline_args(settings: Settings, job_name: str | None = None) -> list[str]:
    """The full argv for ``python -m`` :data:`~include.beam.pipeline.PIPELINE_MODULE` in the settings' profile."""
    args = [
        f"--runner={settings.beam_runner}",
        "--streaming",
        f"--project={settings.project}",
        f"--job_name={job_name or settings.dataflow_job_name}",
        f"--subscription={settings.subscription_path}",
        f"--raw_events_table={settings.table_id(RAW_EVENTS)}",
        f"--dead_letter_table={settings.table_id(RAW_EVENTS_DEAD_LETTER)}",
        f"--write_method={settings.bq_write_method}",
        f"--dedupe_ttl_seconds={settings.ingest_dedupe_ttl_seconds}",
        f"--event_clock={settings.ingest_clock}",
        f"--late_event_limit_minutes={settings.late_event_limit_minutes}",
        f"--future_event_limit_minutes={settings.future_event_limit_minutes}",
    ]
    if settings.beam_runner != "DataflowRunner":
        # The emulators come from the environment. In the DirectRunner every shard key of the
        # streaming-insert reshuffle is its own bundle and insert: Beam's 500 keys gave ~60 events/s
        # with stalls, 4 keys ~250 (benchmarks/ingest_throughput.py).
        # The local job acknowledges after the write (include/beam/pipeline/local_acks.py), so a restarted job
        # receives again what the killed one wrote but had not acknowledged: look those up.
        return [*args, f"--num_streaming_keys={LOCAL_STREAMING_KEYS}", "--dedupe_against_table"]
    if not settings.dataflow_service_account:
        raise ValueError(
            "BIKESHARE_DATAFLOW_SERVICE_ACCOUNT is required in the gcp profile: the Dataflow workers run as "
            "that service account (subscriber on one subscription, dataEditor on the dataset), never as "
            "the Compute Engine default"
        )
    args += [
        f"--region={settings.region}",
        f"--temp_location={settings.temp_location}",
        f"--staging_location={settings.staging_location}",
        f"--max_num_workers={settings.dataflow_max_workers}",
        f"--setup_file={SETUP_FILE}",
        "--enable_streaming_engine",
    ]
    args.append(f"--service_account_email={settings.dataflow_service_account}")
    return args
