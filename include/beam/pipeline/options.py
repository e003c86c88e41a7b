"""Pipeline options of the ingest pipeline: the flags it reads, their defaults and their checks.

The argv for the active profile is built on the control side, from the settings, by
:func:`include.beam.control.launch.pipeline_args` (the one place that turns ``Settings`` into these
flags); the pipeline itself never reads the settings.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from apache_beam.options.pipeline_options import PipelineOptions

from include.gcp.events import Limits

WRITE_METHODS = ("STREAMING_INSERTS", "STORAGE_WRITE_API")
DEDUPE_SHARDS = 256


class IngestOptions(PipelineOptions):
    """What the ingest pipeline reads from and writes to, and its tuning knobs."""

    def limits(self) -> Limits:
        """The event contract's time window around the ingest clock, and the systems it accepts (the
        systems table's ids from ``--systems``; unset: the table itself, which only the launching machine has)."""
        ids = frozenset(s.strip() for s in (self.systems or "").split(",") if s.strip())
        return Limits(
            max_age=timedelta(minutes=self.late_event_limit_minutes),
            max_lead=timedelta(minutes=self.future_event_limit_minutes),
            systems=ids or None,
        )

    def replay_window(self) -> tuple[datetime, datetime] | None:
        """Where a message's ``simulated_now`` is honoured (``--event_clock=simulated``); None: never."""
        if self.event_clock != "simulated":
            return None
        if not (self.replay_clock_from and self.replay_clock_to):
            raise ValueError("--event_clock=simulated needs --replay_clock_from and --replay_clock_to")
        return _utc(self.replay_clock_from), _utc(self.replay_clock_to)

    def missing(self, with_source: bool = True) -> list[str]:
        """The flags the pipeline cannot run without that are unset."""
        names = ["raw_events_table", "dead_letter_table"] + (["subscription"] if with_source else [])
        return [f"--{name}" for name in names if not getattr(self, name)]

    @classmethod
    def _add_argparse_args(cls, parser) -> None:  # type: ignore[no-untyped-def]  # Beam's signature
        # Not argparse-required: Beam parses every PipelineOptions subclass for any pipeline in the
        # process, so a required flag here would break unrelated pipelines. build() checks them.
        parser.add_argument("--subscription", help="projects/<p>/subscriptions/<s> to read")
        parser.add_argument("--raw_events_table", help="project.dataset.raw_events")
        parser.add_argument("--dead_letter_table", help="project.dataset.raw_events_dead_letter")
        parser.add_argument(
            "--write_method",
            default="STREAMING_INSERTS",
            choices=WRITE_METHODS,
            help="STORAGE_WRITE_API (exactly-once) on Dataflow; STREAMING_INSERTS for the emulator",
        )
        parser.add_argument(
            "--event_clock",
            default="wall",
            choices=("wall", "simulated"),
            help="what 'now' is for the late and future limits: the wall clock, or a replay's simulated_now "
            "attribute within --replay_clock_from/--replay_clock_to (the wall clock outside them)",
        )
        parser.add_argument("--replay_clock_from", help="ISO 8601: the earliest simulated_now honoured")
        parser.add_argument("--replay_clock_to", help="ISO 8601: simulated_now from here on is not honoured")
        parser.add_argument(
            "--late_event_limit_minutes",
            type=int,
            default=2_880,
            help="events older than this before the clock are dead-lettered as too_late",
        )
        parser.add_argument(
            "--future_event_limit_minutes",
            type=int,
            default=5,
            help="events further ahead of the clock are dead-lettered as future_ts",
        )
        parser.add_argument(
            "--dedupe_against_table",
            action="store_true",
            default=False,
            help="also drop copies of events raw_events already holds within the late-event window (one "
            "query per day of event time): exactly once across drains, kills and new job names",
        )
        parser.add_argument(
            "--direct_ack_after_write",
            type=int,
            choices=(0, 1),
            default=1,
            help="DirectRunner: acknowledge a message only once its row or dead letter is written (1) "
            "or on pull as Beam does (0); ignored elsewhere",
        )
        parser.add_argument(
            "--direct_max_outstanding",
            type=int,
            default=20_000,
            help="DirectRunner: stop pulling while this many messages wait for their write",
        )
        parser.add_argument(
            "--dedupe_ttl_seconds",
            type=int,
            default=86_400,
            help="how long an event_id is remembered after its first arrival; 0 turns in-pipeline dedupe off",
        )
        parser.add_argument(
            "--dedupe_shards",
            type=int,
            default=DEDUPE_SHARDS,
            help="keys of the dedupe state (a stable hash of event_id); bounds the runner's per-key work",
        )
        parser.add_argument(
            "--insert_batch_size",
            type=int,
            default=500,
            help="rows per streaming-insert request (Beam's default is 500)",
        )
        parser.add_argument(
            "--num_streaming_keys",
            type=int,
            default=500,
            help="shards per table for streaming inserts (Beam's default 500); few keys mean fuller inserts",
        )
        parser.add_argument(
            "--systems",
            default="",
            help="comma-separated system ids an event may name (the systems table's; include/systems.py)",
        )
        parser.add_argument(
            "--direct_pull_max_messages",
            type=int,
            default=1000,
            help="messages per Pub/Sub pull in the DirectRunner (Beam hard-codes 10); ignored elsewhere",
        )


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
