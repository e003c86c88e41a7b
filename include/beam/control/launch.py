"""The complete argv of the ingest pipeline for the active profile, built from the settings.

:func:`pipeline_args` is the one place that turns :class:`Settings` (names, endpoints, event limits)
and :class:`IngestSettings` (the job's own) into the pipeline's flags
(:class:`~include.beam.pipeline.options.IngestOptions` and Beam's own), so the DAG, the tests and the
benchmark start exactly the same pipeline (DirectRunner locally, Dataflow on gcp). It runs where the
job is controlled and imports no Beam: both backends call it directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from include.beam.control.settings import IngestSettings
from include.gcp import paths, trip_files
from include.gcp.settings import PROJECT_ROOT, Settings
from include.gcp.tables import RAW_EVENTS, RAW_EVENTS_DEAD_LETTER
from include.simulator import trip_data
from include.systems import all_systems

log = logging.getLogger(__name__)

SETUP_FILE = PROJECT_ROOT / "setup.py"
LOCAL_STREAMING_KEYS = 4
ArgvFactory = Callable[[Settings, IngestSettings], list[str]]  # how the backends get the argv (tests swap it)


def beam_runner(settings: Settings) -> str:
    """Dataflow in the gcp profile; locally the bundle-based DirectRunner.

    Beam 2.77's plain ``DirectRunner`` first tries to download the Prism runner binary, which
    fails offline before it falls back; ``BundleBasedDirectRunner`` never tries.
    """
    return "BundleBasedDirectRunner" if settings.is_local else "DataflowRunner"


def bq_write_method(settings: Settings) -> str:
    """Beam's WriteToBigQuery method: exactly-once Storage Write API on Dataflow; the
    emulator accepts only streaming inserts (Beam's other paths are hard-wired to Google)."""
    return "STREAMING_INSERTS" if settings.is_local else "STORAGE_WRITE_API"


def dedupe_ttl_seconds(settings: Settings, ingest: IngestSettings) -> int:
    """How long the pipeline remembers an id: by default as long as a copy of it can be accepted."""
    if ingest.dedupe_ttl_seconds is not None:
        return ingest.dedupe_ttl_seconds
    return 60 * (settings.late_event_limit_minutes + settings.future_event_limit_minutes)


def replay_window(settings: Settings, ingest: IngestSettings) -> tuple[datetime, datetime] | None:
    """Where the replay's clock is honoured: the configured bounds, else the span of the trip files
    the replay reads (``trips_data_dir``, with the pinned months when it is the download cache, which
    fetches them on first use); None (the wall clock judges) with the wall clock or no data."""
    if ingest.clock != "simulated":
        return None
    on_demand = () if settings.trips_data_provided else trip_data.TRIP_FILES
    covered = trip_files.covered_range(settings.trips_data_dir, also=on_demand)
    start = ingest.replay_from or (covered[0] if covered else None)
    end = ingest.replay_to or (covered[1] if covered else None)
    if start is None or end is None:
        log.warning(
            "the simulated clock has no bounds (no trip files in %s, BIKESHARE_INGEST_REPLAY_FROM/TO unset): "
            "event times are judged against the wall clock",
            settings.trips_data_dir,
        )
        return None
    return start, end


def pipeline_args(settings: Settings, ingest: IngestSettings) -> list[str]:
    """The full argv for ``python -m`` :data:`~include.beam.pipeline.PIPELINE_MODULE` in the settings' profile."""
    runner = beam_runner(settings)
    args = [
        f"--runner={runner}",
        "--streaming",
        f"--project={settings.project}",
        f"--job_name={ingest.job_name}",
        f"--subscription={settings.subscription_path}",
        f"--raw_events_table={settings.table_id(RAW_EVENTS)}",
        f"--dead_letter_table={settings.table_id(RAW_EVENTS_DEAD_LETTER)}",
        f"--write_method={bq_write_method(settings)}",
        f"--dedupe_ttl_seconds={dedupe_ttl_seconds(settings, ingest)}",
        f"--late_event_limit_minutes={settings.late_event_limit_minutes}",
        f"--future_event_limit_minutes={settings.future_event_limit_minutes}",
        f"--systems={','.join(all_systems())}",  # the workers validate system_id without the table's file
        # Copies of events an earlier job wrote (after a drain, a kill -9, under another job name) are
        # looked up in raw_events, on both runners: neither a new job's dedupe state nor Dataflow's
        # exactly-once delivery knows a message published again (include/beam/pipeline/written_ids.py).
        "--dedupe_against_table",
    ]
    if window := replay_window(settings, ingest):
        args += ["--event_clock=simulated", f"--replay_clock_from={window[0].isoformat()}"]
        args.append(f"--replay_clock_to={window[1].isoformat()}")
    else:
        args.append("--event_clock=wall")
    if runner != "DataflowRunner":
        # The emulators come from the environment. In the DirectRunner every shard key of the
        # streaming-insert reshuffle is its own bundle and insert: Beam's 500 keys gave ~60 events/s
        # with stalls, 4 keys ~250 (benchmarks/ingest_throughput.py).
        return [*args, f"--num_streaming_keys={LOCAL_STREAMING_KEYS}"]
    if not ingest.service_account:
        raise ValueError(
            "BIKESHARE_DATAFLOW_SERVICE_ACCOUNT is required in the gcp profile: the Dataflow workers run as "
            "that service account (subscriber on one subscription, dataEditor on the dataset), never as "
            "the Compute Engine default"
        )
    args += [
        f"--region={settings.region}",
        f"--temp_location=gs://{settings.bucket}/{paths.dataflow_temp(settings.env)}",
        f"--staging_location=gs://{settings.bucket}/{paths.dataflow_staging(settings.env)}",
        f"--max_num_workers={ingest.max_workers}",
        f"--setup_file={SETUP_FILE}",
        "--enable_streaming_engine",
    ]
    args.append(f"--service_account_email={ingest.service_account}")
    return args
