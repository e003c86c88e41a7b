"""One replay run, as the CLI and the ``bikeshare_replay`` DAG start it: pick events, inject, publish."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from include.gcp.events import Event
from include.gcp.settings import Settings
from include.simulator.country import CountrySpec, country_events
from include.simulator.malformed import with_malformed
from include.simulator.pacing import Clock
from include.simulator.publish import Progress, ReplaySummary, log_progress, publish_messages
from include.simulator.sources import month_files, parse_time
from include.simulator.synthetic import SyntheticSpec, synthetic_events, synthetic_trips
from include.simulator.trips import ReplayStats, events_from_files


@dataclass(frozen=True)
class ReplayRequest:
    """What to replay: trip files and/or months (or a synthetic spec), a window, pacing, injection."""

    files: Sequence[str | Path] = ()
    months: Sequence[str] = ()
    data_dir: str | Path | None = None  # None: the trips_data_dir setting
    start: datetime | None = None  # inclusive, UTC
    end: datetime | None = None  # exclusive, UTC
    synthetic: SyntheticSpec | None = None
    country: CountrySpec | None = None  # the synthetic country's events in [start, end) (include/simulator/country.py)
    speed_up: float | None = None  # None or 0: as fast as possible
    malformed_share: float = 0.0
    seed: int = 0
    limit: int | None = None  # send at most this many valid events (smoke runs)

    def input_files(self) -> list[Path]:
        paths = [Path(f) for f in self.files]
        for month in self.months:
            paths.extend(month_files(month, self.data_dir))
        return paths


def select_events(request: ReplayRequest, summary: ReplaySummary | None = None) -> list[Event]:
    """The valid events of a request, in event-time order; fills trips and rejected rows in ``summary``."""
    summary = summary if summary is not None else ReplaySummary()
    if request.country is not None:
        if request.files or request.months or request.synthetic is not None:
            raise ValueError("choose either trip files/months, synthetic mode or a country, not more than one")
        if request.start is None or request.end is None:
            raise ValueError("a country replay needs a window: from and to")
        events = country_events(request.country, request.start, request.end)
    elif request.synthetic is not None:
        if request.files or request.months:
            raise ValueError("choose either trip files/months or synthetic mode, not both")
        trips = synthetic_trips(request.synthetic)
        events = synthetic_events(request.synthetic, trips)
        summary.trips = len(trips)
    else:
        paths = request.input_files()
        if not paths:
            raise ValueError("nothing to replay: give files, months or a synthetic spec")
        stats = ReplayStats()
        events = events_from_files(paths, request.start, request.end, stats)
        summary.trips, summary.rejected = stats.trips, dict(sorted((stats.rejected or {}).items()))
    return events[: request.limit] if request.limit is not None else events


def run_replay(
    request: ReplayRequest,
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    on_progress: Callable[[Progress], None] = log_progress,
    progress_every: float = 5.0,
) -> ReplaySummary:
    """Publish a request's events (with any injected malformed messages) and return the summary."""
    summary = ReplaySummary()
    events = select_events(request, summary)
    messages = with_malformed(events, request.malformed_share, request.seed)
    return publish_messages(
        messages,
        settings,
        speed_up=request.speed_up,
        clock=clock,
        summary=summary,
        on_progress=on_progress,
        progress_every=progress_every,
    )


def request_from_params(params: Mapping[str, Any]) -> ReplayRequest:
    """A request from the ``bikeshare_replay`` DAG's params (see the DAG for their meaning).

    ``synthetic`` switches to generated trips starting at ``from``; otherwise ``files`` and
    ``months`` (resolved in ``data_dir``, empty for the ``trips_data_dir`` setting) are replayed within
    ``from``/``to``. ``speed_up`` 0 means as fast as possible.
    """
    start, end = parse_time(params.get("from")), parse_time(params.get("to"))
    seed = int(params.get("seed") or 0)
    synthetic = None
    if params.get("synthetic"):
        if start is None:
            raise ValueError("synthetic mode needs 'from' (the first generated hour)")
        synthetic = SyntheticSpec(
            start,
            hours=int(params.get("synthetic_hours") or 24),
            stations=int(params.get("synthetic_stations") or 50),
            rate=float(params.get("synthetic_rate") or 1.0),
            seed=seed,
        )
    limit = params.get("limit")
    return ReplayRequest(
        files=() if synthetic else list(params.get("files") or ()),
        months=() if synthetic else list(params.get("months") or ()),
        data_dir=params.get("data_dir") or None,
        start=start,
        end=end,
        synthetic=synthetic,
        speed_up=float(params.get("speed_up") or 0) or None,
        malformed_share=float(params.get("malformed_share") or 0.0),
        seed=seed,
        limit=int(limit) if limit is not None else None,
    )
