"""Fault scenarios on the real local stack, shared by the fault tests and ``benchmarks/faults_report.py``.

Each scenario works in resource names of its own, drives the real parts (the simulator's events,
Pub/Sub, the local streaming job through :class:`~include.beam.control.stream_local.LocalStreamingJob`, the
BigQuery emulator, the history loader, the features DAG), provokes one fault and returns an
:class:`Outcome`: what was published against what raw_events and the dead-letter table hold. The
promise is the same everywhere: every valid event once in raw_events (``lost == 0``,
``duplicate_rows == 0``), every bad message in the dead letters with its reason
(``missing_dead_letters == 0``).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from google.api_core.exceptions import NotFound

from include.beam.control.job import JobState
from include.beam.control.settings import IngestSettings
from include.beam.control.stream_health import StreamUnhealthy, check_health, new_stations
from include.beam.control.stream_local import LocalStreamingJob
from include.beam.pipeline.transforms import MAX_DEAD_LETTER_PAYLOAD
from include.dbt import cosmos_tasks
from include.gcp import clients, resources
from include.gcp.events import Event, format_ts
from include.gcp.settings import Settings, get_settings
from include.gcp.tables import RAW_EVENTS, RAW_EVENTS_DEAD_LETTER
from include.localstack import stack
from include.simulator.history import load_history
from include.simulator.publish import replay_attributes
from include.simulator.sources import month_files
from include.simulator.trips import events_from_files

ROOT = Path(__file__).resolve().parents[2]
TRIP_MONTH = "2019-09"  # its pinned file: from BIKESHARE_TRIPS_DATA_DIR, else downloaded once (month_files)
NEW_STATION = "JC-NEW-1"  # a well-formed station id the stations seed does not hold


@dataclass
class Outcome:
    """What a scenario published and what BigQuery holds afterwards."""

    scenario: str
    published_valid: int = 0
    distinct_in_raw: int = 0  # of the published valid ids
    lost: int = 0
    duplicate_rows: int = 0
    unexpected_rows: int = 0  # rows whose id was never published as valid
    bad_published: int = 0
    missing_dead_letters: int = 0  # bad messages without a dead letter of the expected reason
    dead_letters: dict[str, int] = field(default_factory=dict)  # by reason
    seconds: float = 0.0
    facts: dict[str, Any] = field(default_factory=dict)  # scenario-specific observations

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicate_rows or self.unexpected_rows or self.missing_dead_letters)

    def summary(self) -> str:
        return (
            f"{self.scenario}: valid {self.published_valid}, lost {self.lost}, duplicate rows {self.duplicate_rows}, "
            f"unexpected rows {self.unexpected_rows}, bad {self.bad_published} (missing dead letters "
            f"{self.missing_dead_letters}, by reason {self.dead_letters}), {self.seconds:.0f} s, {self.facts}"
        )


# --- resources and I/O -----------------------------------------------------------------------


@contextmanager
def own_resources(base: Settings, label: str) -> Iterator[Settings]:
    """A topic, subscription and dataset of this scenario (the job's name: :func:`job_of`); dropped afterwards."""
    tag = f"{label}-{uuid.uuid4().hex[:6]}"
    s = base.with_names(
        topic=f"faults-{tag}",
        subscription=f"faults-{tag}-sub",
        dataset=f"faults_{tag.replace('-', '_')}",
        bucket=f"faults-{tag}",
    )
    resources.ensure_pubsub(s)
    resources.ensure_bigquery(s)
    try:
        yield s
    finally:
        job = job_of(s)
        if job.state().is_active:
            with suppress(Exception):
                os.killpg(int(job._load().pid), signal.SIGKILL)  # type: ignore[union-attr]
        stack.up(s)  # a scenario that stopped an emulator may have failed before restarting it
        clients.bigquery_client(s).delete_dataset(s.dataset, delete_contents=True, not_found_ok=True)
        with suppress(NotFound), clients.subscriber_client(s) as sub:
            sub.delete_subscription(subscription=s.subscription_path)
        with suppress(NotFound):
            clients.publisher_client(s).delete_topic(topic=s.topic_path)


def trips() -> Path:
    """The trip file the scenarios replay (Sep 2019)."""
    return month_files(TRIP_MONTH)[0]


def trip_events(start: datetime, end: datetime) -> list[Event]:
    return events_from_files([trips()], start, end)


def backlog_events(n: int = 6000) -> list[Event]:
    """The first ``n`` events of 46 hours (Mon 9 to Tue 10 Sep 2019, 6,120 events): a backlog or a
    2-day replay whose every event is within the late limit of the newest one's time."""
    events = trip_events(datetime(2019, 9, 9, tzinfo=UTC), datetime(2019, 9, 10, 22, tzinfo=UTC))
    assert len(events) >= n, f"46 hours hold {len(events)} events"
    return events[:n]


def publish(s: Settings, payloads: Sequence[bytes], clock: datetime) -> None:
    """Publish with the replay's clock attribute, as the simulator does; waits for every ack."""
    publisher = clients.publisher_client(s)
    attributes = replay_attributes(clock)
    futures = [publisher.publish(s.topic_path, p, **attributes) for p in payloads]
    for f in futures:
        f.result(timeout=120)


def raw_counts(s: Settings) -> Counter[str]:
    sql = f"SELECT event_id, COUNT(*) AS n FROM `{s.table_id(RAW_EVENTS)}` GROUP BY event_id"
    return Counter({r.event_id: r.n for r in clients.bigquery_client(s).query(sql).result()})


def dead_letters(s: Settings) -> list[tuple[str, str]]:
    sql = f"SELECT payload, reason FROM `{s.table_id(RAW_EVENTS_DEAD_LETTER)}`"
    return [(r.payload, r.reason) for r in clients.bigquery_client(s).query(sql).result()]


def wait_until(condition: Callable[[], bool], timeout: float, what: str, poll: float = 1.0) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what}: not reached within {timeout:.0f} s")
        time.sleep(poll)
    return time.monotonic() - started


def account(
    s: Settings, scenario: str, valid_ids: set[str], bad: Sequence[tuple[bytes, str]], started: float
) -> Outcome:
    """Compare what was published with what BigQuery holds."""
    raw = raw_counts(s)
    got_dead = Counter(dead_letters(s))
    expected_dead = Counter(
        (p.decode("utf-8", errors="backslashreplace")[:MAX_DEAD_LETTER_PAYLOAD], reason) for p, reason in bad
    )
    return Outcome(
        scenario=scenario,
        published_valid=len(valid_ids),
        distinct_in_raw=len(valid_ids & set(raw)),
        lost=len(valid_ids - set(raw)),
        duplicate_rows=sum(n - 1 for n in raw.values() if n > 1),
        unexpected_rows=sum(n for i, n in raw.items() if i not in valid_ids),
        bad_published=len(bad),
        missing_dead_letters=sum((expected_dead - got_dead).values()),
        dead_letters=dict(Counter(reason for _, reason in dead_letters(s))),
        seconds=round(time.monotonic() - started, 1),
    )


def all_written(s: Settings, valid_ids: set[str], bad: int = 0) -> Callable[[], bool]:
    def done() -> bool:
        return valid_ids <= set(raw_counts(s)) and len(dead_letters(s)) >= bad

    return done


def job_of(s: Settings) -> LocalStreamingJob:
    """The scenario's streaming job, named after its topic (``faults-<scenario>-<tag>``): the name
    the kill -9 finds the process group by."""
    return LocalStreamingJob(s, IngestSettings(job_name=s.topic))


def start_job(s: Settings) -> LocalStreamingJob:
    job = job_of(s)
    job.start()
    return job


def job_pid(job: LocalStreamingJob) -> int:
    record = job._load()
    assert record is not None
    return record.pid


def kill_9(job: LocalStreamingJob) -> None:
    """kill -9 of the job's whole process group: no handler, no flush, no ack."""
    pid = job_pid(job)
    os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while job.state().is_active and time.monotonic() < deadline:
        time.sleep(0.1)


# --- the scenarios ----------------------------------------------------------------------------


def poisons(real: Event, clock: datetime) -> list[tuple[bytes, str]]:
    """The payloads that stopped the pipeline on c4895d2, and those it accepted and must not."""
    body = real.to_dict()

    def variant(**changes: object) -> bytes:
        return json.dumps({**body, "event_id": f"{real.event_id}-x{len(changes)}", **changes}).encode()

    return [
        (b"[" * 100_000, "too_large"),
        (json.dumps({**body, "event_id": "poison-kind", "kind": ["pickup"]}).encode(), "bad_kind"),
        (json.dumps({**body, "event_id": "poison-ts", "ts_iso": "0001-01-01T00:00:00+01:00"}).encode(), "bad_ts_iso"),
        (b"1" * 5_000, "too_large"),
        (json.dumps({**body, "event_id": "ts-1900", "ts_iso": "1900-01-01T00:00:00Z"}).encode(), "too_late"),
        (json.dumps({**body, "event_id": "ts-2999", "ts_iso": "2999-01-01T00:00:00Z"}).encode(), "future_ts"),
        (json.dumps({**body, "event_id": "odd-station", "station_id": "Main St & 1st"}).encode(), "bad_station_id"),
        (json.dumps({**body, "event_id": "one-mb", "extra": "x" * 1_000_000}).encode(), "too_large"),
        (json.dumps({**body, "event_id": "extra-field", "source": "replay"}).encode(), "unknown_field"),
        (b"\xc3\x28 not utf-8", "not_utf8"),
        (variant(kind="teleport"), "bad_kind"),
        (json.dumps({**body, "event_id": "no-system", "system_id": "gotham"}).encode(), "unknown_system"),
        (json.dumps({**body, "event_id": "odd-system", "system_id": {"$ne": ""}}).encode(), "bad_system_id"),
        # the first valid event again with another station: the copy, not the original, is refused
        (json.dumps({**body, "station_id": "9999"}).encode(), "conflicting_duplicate"),
    ]


def poison_burst(base: Settings, per_side: int = 300) -> Outcome:
    """``per_side`` valid events, the poisons, ``per_side`` more valid ones and an exact duplicate:
    the job must keep running and account for every message."""
    events = trip_events(datetime(2019, 9, 7, 8, tzinfo=UTC), datetime(2019, 9, 7, 20, tzinfo=UTC))
    first, second = events[:per_side], events[per_side : 2 * per_side]
    assert len(second) == per_side, f"the window holds only {len(events)} events"
    clock = second[-1].ts
    bad = poisons(first[0], clock)
    stranger = Event(clock, "new-station-pickup", NEW_STATION, "pickup")  # valid, unknown to the seed
    with own_resources(base, "poison") as s:
        started = time.monotonic()
        cosmos_tasks.load_seeds(s)  # as bikeshare_setup does: the fleet new_stations compares with
        job = start_job(s)
        pid = job_pid(job)
        publish(s, [e.to_json() for e in first], clock)
        wait_until(all_written(s, {e.event_id for e in first}), 120, "the first valid events")
        later = [e.to_json() for e in second] + [stranger.to_json(), first[1].to_json()]
        publish(s, [p for p, _ in bad] + later, clock)
        valid = {e.event_id for e in [*first, *second, stranger]}
        wait_until(all_written(s, valid, len(bad)), 180, "every valid event and dead letter")
        time.sleep(3)  # anything still arriving would be a duplicate or an extra row
        out = account(s, "poison burst", valid, bad, started)
        out.facts = {
            "job_state": str(job.state()),
            "same_process": job_pid(job) == pid,
            "new_stations": new_stations(s),  # the health report's new_station count
        }
        job.drain(timeout=60)
    return out


def kill_during_backlog(
    base: Settings,
    events: Sequence[Event],
    kills: int = 1,
    publish_rate: float | None = None,
    label: str = "kill -9 mid-backlog",
) -> Outcome:
    """The events as a backlog (or published at ``publish_rate`` per second meanwhile); the job is
    killed with SIGKILL ``kills`` times, each time once more rows arrived, and restarted.

    The events must span less than the late-event limit: the clock is the newest one's time."""
    assert max(e.ts for e in events) - min(e.ts for e in events) < timedelta(hours=47), "older ones are too_late"
    valid = {e.event_id for e in events}
    clock = max(e.ts for e in events)
    with own_resources(base, "kill") as s:
        started = time.monotonic()
        payloads = [e.to_json() for e in events]
        publisher: threading.Thread | None = None
        if publish_rate:
            chunk = max(1, int(publish_rate))

            def paced() -> None:
                for i in range(0, len(payloads), chunk):
                    publish(s, payloads[i : i + chunk], clock)
                    time.sleep(1.0)

            publisher = threading.Thread(target=paced, daemon=True)
        job = start_job(s)  # up first: its ~15 s start-up check would outlast a 6,000-message backlog
        if publisher:
            publisher.start()
        else:
            publish(s, payloads, clock)
        rows_at_kill: list[int] = []
        for k in range(1, kills + 1):  # each time as soon as the (restarted) job has written a row
            target = (rows_at_kill[-1] if rows_at_kill else 0) + 1
            wait_until(lambda t=target: sum(raw_counts(s).values()) >= t, 600, f"{target} rows before kill {k}", 0.1)
            kill_9(job)
            rows_at_kill.append(sum(raw_counts(s).values()))
            job.start()  # as the stream DAG's next run does: the failed job is replaced
        if publisher:
            publisher.join()
        waited = wait_until(all_written(s, valid), 900, "every event after the restarts")
        time.sleep(3)
        out = account(s, label, valid, [], started)
        out.facts = {"kills": kills, "rows_at_kills": rows_at_kill, "after_last_restart_s": round(waited, 1)}
        job.drain(timeout=120)
    return out


def bigquery_outage(base: Settings, outage_s: float = 60.0, batch: int = 500) -> Outcome:
    """The BigQuery emulator stopped while the job writes; events keep coming; it comes back after
    ``outage_s``. The job must outlive it (same process), the monitor must say so, nothing lost."""
    events = trip_events(datetime(2019, 9, 10, 6, tzinfo=UTC), datetime(2019, 9, 11, 6, tzinfo=UTC))
    before, during = events[:batch], events[batch : 2 * batch]
    clock = during[-1].ts
    with own_resources(base, "outage") as s:
        started = time.monotonic()
        job = start_job(s)
        pid = job_pid(job)
        publish(s, [e.to_json() for e in before], clock)
        wait_until(all_written(s, {e.event_id for e in before}), 120, "the events before the outage")
        stopped = stack.down(s, only=["bigquery"])
        if not stopped or stopped[0].state != "stopped":
            raise RuntimeError(f"the BigQuery emulator was not started by this stack, cannot stop it: {stopped}")
        outage_started = time.monotonic()
        publish(s, [e.to_json() for e in during], clock)
        try:
            check_health(s, job.state())
            monitor = "no problem reported"
        except StreamUnhealthy as err:
            monitor = str(err).splitlines()[0][:160]
        time.sleep(max(0.0, outage_s - (time.monotonic() - outage_started)))
        alive_through = job.state() is JobState.RUNNING and job_pid(job) == pid
        stack.up(s)
        outage = time.monotonic() - outage_started
        valid = {e.event_id for e in events[: 2 * batch]}
        recovered = wait_until(all_written(s, valid), 600, "every event after the outage")
        time.sleep(3)
        length = f"{outage_s / 60:g} min" if outage_s >= 120 else f"{outage_s:.0f} s"
        out = account(s, f"BigQuery emulator stopped {length} mid-write", valid, [], started)
        out.facts = {
            "outage_s": round(outage),
            "job_alive_through_outage": alive_through,
            "same_process": job_pid(job) == pid,
            "monitor_during_outage": monitor,
            "recovered_after_s": round(recovered, 1),
        }
        job.drain(timeout=120)
    return out


def history_twice(
    base: Settings,
    start: datetime = datetime(2019, 9, 2, tzinfo=UTC),
    end: datetime = datetime(2019, 9, 4, tzinfo=UTC),
) -> Outcome:
    """The same trip month given twice in one load (its events from ``start`` to ``end``), then the load again."""
    valid = {e.event_id for e in trip_events(start, end)}
    with own_resources(base, "history") as s:
        started = time.monotonic()
        first = load_history(files=[str(trips()), str(trips())], start=start, end=end, settings=s)
        second = load_history(files=[str(trips())], start=start, end=end, settings=s)
        out = account(s, "the same month twice in one history load, then again", valid, [], started)
        out.facts = {
            "first_inserted": first.inserted,
            "duplicates_in_input": first.duplicates_in_input,
            "second_inserted": second.inserted,
        }
    return out


@contextmanager
def dag_settings(s: Settings) -> Iterator[Settings]:
    """Point ``get_settings()`` (what DAG tasks read) at the scenario's dataset."""
    names = {"BIKESHARE_BQ_DATASET": s.dataset, "BIKESHARE_PUBSUB_TOPIC": s.topic}
    saved = {k: os.environ.get(k) for k in names}
    os.environ.update(names)
    get_settings.cache_clear()
    try:
        yield get_settings()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        get_settings.cache_clear()


def features_dag_run(interval_end: datetime, attempts: int = 3) -> str:
    """One bikeshare_features run for ``interval_end`` with ``dag.test()`` (the DAG parsed now)."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=ROOT / "dags" / "bikeshare_features.py")
    assert bag.import_errors == {}, bag.import_errors
    dag = bag.dags["bikeshare_features"]
    state = ""
    for _ in range(attempts):  # dag.test() retries at once; a shared emulator may stall a task
        stack.up(get_settings())
        state = str(dag.test(logical_date=interval_end).state)
        if state == "success":
            break
        time.sleep(5)
    return state


def late_events_through_features(base: Settings) -> Outcome:
    """Features up to 04:15 exist; then a pickup of 00:30 (3 h 45 min late) and one 49 h late arrive
    through the stream; the next features run must count the first everywhere, dbt tests passing."""
    t = datetime(2019, 9, 3, 4, 15, tzinfo=UTC)
    history = trip_events(datetime(2019, 9, 1, tzinfo=UTC), t)
    late_ts = datetime(2019, 9, 3, 0, 30, tzinfo=UTC)
    station = Counter(e.station_id for e in history if e.kind == "pickup").most_common(1)[0][0]
    late = Event(late_ts, "late-pickup-0030", station, "pickup")
    too_late = Event(t - timedelta(hours=49), "too-late-pickup", station, "pickup")
    clock = t + timedelta(minutes=5)
    with own_resources(base, "late") as s, dag_settings(s) as ds:
        started = time.monotonic()
        cosmos_tasks.load_seeds(ds)  # as bikeshare_setup does
        load_history(files=[str(trips())], start=history[0].ts, end=t, settings=ds)
        first = features_dag_run(t)
        before = station_counts(ds, station, late_ts)
        job = start_job(s)  # the scenario's own subscription and job name (the DAG reads only the dataset)
        publish(s, [late.to_json(), too_late.to_json()], clock)
        wait_until(all_written(s, {late.event_id}, 1), 120, "the late event and the too-late dead letter")
        job.drain(timeout=60)
        second = features_dag_run(t + timedelta(minutes=15))
        after = station_counts(ds, station, late_ts)
        valid = {e.event_id for e in history} | {late.event_id}
        bad = [(too_late.to_json(), "too_late")]
        out = account(ds, "a pickup 3 h 45 min late, after features exist", valid, bad, started)
        out.facts = {
            "first_run": first,
            "second_run": second,  # models, then dbt test (point in time included): success
            "label_hour_pickups": (before["label"], after["label"]),
            "as_ofs_counting_it": after["as_ofs_counting"],
            "as_ofs_expected": after["as_ofs_expected"],
        }
    return out


def station_counts(s: Settings, station: str, late_ts: datetime) -> dict[str, Any]:
    """The station's pickups in the late event's label hour, and the as_ofs whose 24h pickups agree
    with a recount from raw_events (every as_of from the event's 15-minute bucket on must)."""
    bq = clients.bigquery_client(s)
    hour = late_ts.replace(minute=0)
    (label,) = bq.query(
        f"SELECT pickups FROM `{s.table_id('station_hourly_labels')}` "
        f"WHERE station_id = '{station}' AND hour_start = '{format_ts(hour)}'"
    ).result()
    sql = f"""
        SELECT f.as_of, f.pickup_count_24h AS built,
          (SELECT COUNT(*) FROM `{s.table_id(RAW_EVENTS)}` r
           WHERE r.station_id = f.station_id AND r.kind = 'pickup'
             AND r.ts_iso >= TIMESTAMP_SUB(f.as_of, INTERVAL 24 HOUR) AND r.ts_iso < f.as_of) AS recount
        FROM `{s.table_id("station_features_wide")}` f
        WHERE f.station_id = '{station}' AND f.as_of > '{format_ts(late_ts)}'
    """
    rows = list(bq.query(sql).result())
    return {
        "label": label.pickups,
        "as_ofs_counting": sum(1 for r in rows if r.built == r.recount),
        "as_ofs_expected": len(rows),
    }


# --- issue 21: no message, restart or publisher can break "exactly once" ----------------------


def pills(real: Event) -> list[tuple[bytes, str]]:
    """Valid JSON with a lone surrogate escape in each string field and in a key, and a NUL: the
    dead letters that the sink's encoder refused (issue 21 §1). The first is the issue's pill."""
    body = real.to_dict()

    def json_with(**changes: object) -> bytes:
        return json.dumps({**body, **changes}).encode()  # ensure_ascii: the surrogate travels as \udxxx

    return [
        (json_with(event_id="e\ud800"), "bad_event_id"),
        (json_with(event_id="pill-station", station_id="s\udc00"), "bad_station_id"),
        (json_with(event_id="pill-kind", kind="pick\ud83d"), "bad_kind"),
        (json_with(event_id="pill-ts", ts_iso="2019\udfff"), "bad_ts_iso"),
        (json.dumps({**body, "event_id": "pill-key", "k\ud800": 1}).encode(), "unknown_field"),
        (json_with(event_id="pill-nul", station_id="a\x00b"), "bad_station_id"),
    ]


def surrogate_pill(base: Settings, per_side: int = 100, all_variants: bool = False) -> Outcome:
    """``per_side`` valid events, the pill (or every variant of :func:`pills`), ``per_side`` more,
    published at once to a running job: every valid event written, each pill a dead letter, the job
    running in its first process."""
    events = trip_events(datetime(2019, 9, 7, 8, tzinfo=UTC), datetime(2019, 9, 7, 20, tzinfo=UTC))[: 2 * per_side]
    clock = events[-1].ts
    bad = pills(events[0]) if all_variants else pills(events[0])[:1]
    with own_resources(base, "pill") as s:
        started = time.monotonic()
        job = start_job(s)
        pid = job_pid(job)
        sent = time.monotonic()
        payloads = [e.to_json() for e in events[:per_side]] + [p for p, _ in bad]
        publish(s, payloads + [e.to_json() for e in events[per_side:]], clock)
        valid = {e.event_id for e in events}
        waited = wait_until(all_written(s, valid, len(bad)), 180, "every valid event and the pill's dead letter", 0.5)
        time.sleep(3)
        out = account(s, "valid + pill + valid", valid, bad, started)
        out.facts = {
            "job_state": str(job.state()),
            "same_process": job_pid(job) == pid,
            "all_written_s": round(waited, 1),
            "publish_to_done_s": round(time.monotonic() - sent - 3, 1),
        }
        job.drain(timeout=60)
    return out


def copies_after_restarts(base: Settings, n: int = 400, conflicting: int = 10) -> Outcome:
    """``n`` events written; then after each of drain + start, kill -9 + start and a job under a new
    name, every one published again and ``conflicting`` of them with another station (issue 21 §2):
    no second row, each conflicting copy a dead letter."""
    events = trip_events(datetime(2019, 9, 7, 8, tzinfo=UTC), datetime(2019, 9, 7, 20, tzinfo=UTC))[:n]
    assert len(events) == n
    clock = events[-1].ts
    copies = [e.to_json() for e in events]
    changed = [json.dumps({**e.to_dict(), "station_id": "9999"}).encode() for e in events[:conflicting]]
    with own_resources(base, "copies") as s:
        started = time.monotonic()
        renamed = LocalStreamingJob(s, IngestSettings(job_name=f"{s.topic}-renamed"))
        try:
            job = start_job(s)
            publish(s, copies, clock)
            valid = {e.event_id for e in events}
            wait_until(all_written(s, valid), 120, "the first copies")

            def drain_and_start() -> None:
                assert job.drain(timeout=60) is JobState.DRAINED
                job.start()

            def kill_and_start() -> None:
                kill_9(job)
                job.start()

            def new_name() -> None:
                assert job.drain(timeout=60) is JobState.DRAINED
                renamed.start()

            bad: list[tuple[bytes, str]] = []
            rows: dict[str, int] = {}
            restarts = (("drain+start", drain_and_start), ("kill-9+start", kill_and_start), ("new name", new_name))
            for label, restart in restarts:
                restart()
                sentinel = Event(clock, f"sentinel-{len(rows)}", events[0].station_id, "dropoff")
                publish(s, [*copies, *changed, sentinel.to_json()], clock)
                valid.add(sentinel.event_id)
                bad += [(p, "conflicting_duplicate") for p in changed]
                wait_until(all_written(s, valid, len(bad)), 180, f"the copies after {label}")
                time.sleep(3)  # an extra row would arrive by now
                rows[label] = sum(raw_counts(s).values())
            out = account(s, "copies after drain, kill -9 and a new job name", valid, bad, started)
            out.facts = {"rows_after": rows, "ids": len(valid), "conflicting_per_restart": conflicting}
            renamed.drain(timeout=60)
        finally:
            if renamed.state().is_active:
                with suppress(Exception):
                    os.killpg(job_pid(renamed), signal.SIGKILL)
    return out


def publisher_input(base: Settings, n: int = 50) -> Outcome:
    """A publisher that sets ``simulated_now`` to 1900, 2999 or 9999 with events of those times
    (issue 21 §4), and JSON with a repeated key or a NaN (§5), among ``n`` valid events."""
    events = trip_events(datetime(2019, 9, 7, 8, tzinfo=UTC), datetime(2019, 9, 7, 20, tzinfo=UTC))[:n]
    clock = events[-1].ts
    station = events[0].station_id
    chosen = {year: datetime(year, 6, 1, 12, tzinfo=UTC) for year in (1900, 2999, 9999)}
    faked = [(Event(t, f"clock-{year}", station, "pickup").to_json(), t) for year, t in chosen.items()]
    body = events[0].to_json()
    strict = [
        (body[:-1] + b',"station_id":"3186"}', "duplicate_key"),
        (body.replace(b'"delta":1', b'"delta":NaN'), "bad_json"),
    ]
    with own_resources(base, "publisher") as s:
        started = time.monotonic()
        job = start_job(s)
        publish(s, [e.to_json() for e in events] + [p for p, _ in strict], clock)
        for payload, t in faked:
            publish(s, [payload], t)  # the publisher's chosen clock
        bad = [*strict, *((p, "too_late" if t.year < 2026 else "future_ts") for p, t in faked)]
        wait_until(all_written(s, {e.event_id for e in events}, len(bad)), 120, "the events and dead letters")
        time.sleep(3)
        out = account(
            s, "publisher's clock 1900/2999/9999, repeated key, NaN", {e.event_id for e in events}, bad, started
        )
        out.facts = {"faked_clock_rows": sum(n for i, n in raw_counts(s).items() if i.startswith("clock-"))}
        job.drain(timeout=60)
    return out


def sigterm_mid_backlog(base: Settings, n: int = 3000) -> Outcome:
    """SIGTERM to the local job's process mid-backlog, as a container stop sends it; then started
    again (issue 21 §5): the job drains and says so, the next one writes the rest, nothing lost."""
    events = backlog_events(n)
    clock = max(e.ts for e in events)
    with own_resources(base, "sigterm") as s:
        started = time.monotonic()
        job = start_job(s)
        publish(s, [e.to_json() for e in events], clock)
        wait_until(lambda: sum(raw_counts(s).values()) > 0, 120, "a first row", 0.1)
        rows_at_signal = sum(raw_counts(s).values())
        signalled = time.monotonic()
        os.kill(job_pid(job), signal.SIGTERM)
        wait_until(lambda: not job.state().is_active, 150, "the stop after SIGTERM", 0.2)
        stopped_s = time.monotonic() - signalled
        state = job.state()
        logged = "drain: SIGTERM received" in job.log_tail()
        job.start()
        wait_until(all_written(s, {e.event_id for e in events}), 600, "every event after the restart")
        time.sleep(3)
        out = account(s, "SIGTERM mid-backlog, then start", {e.event_id for e in events}, [], started)
        out.facts = {
            "state_after_sigterm": str(state),
            "drain_logged": logged,
            "stopped_after_s": round(stopped_s, 1),
            "rows_at_signal": rows_at_signal,
        }
        job.drain(timeout=60)
    return out
