"""The plan hour's assembly, pure: which stations are judged and planned, and what the rows say."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from include.rebalancing import hourly
from include.rebalancing.config import RebalancingConfig

HOUR = datetime(2019, 9, 24, 11, tzinfo=UTC)


def _inventory(rows: list[tuple]) -> pd.DataFrame:
    columns = ["station_id", "name", "lat", "lon", "capacity", "bikes", "last_reported", "is_renting", "is_returning"]
    return pd.DataFrame(rows, columns=columns)


def _rates(stations: dict[str, tuple[float, float]], horizons=(1, 2, 3)) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"station_id": sid, "horizon": h, "predicted_pickups": p, "predicted_dropoffs": d, "model_version": "v1"}
            for sid, (p, d) in stations.items()
            for h in horizons
        ]
    )


def _fleet() -> tuple[pd.DataFrame, pd.DataFrame]:
    fresh = HOUR - timedelta(minutes=3)
    inventory = _inventory(
        [
            ("a", "Drained", 40.720, -74.040, 20, 0, fresh, True, True),  # empty, busy: needs bikes
            ("b", "Overflowing", 40.722, -74.042, 20, 20, fresh, True, True),  # full, quiet: has bikes to give
            ("c", "Steady", 40.721, -74.041, 20, 10, fresh, True, True),
            ("d", "No docks known", 40.723, -74.043, 0, 0, fresh, True, True),
            ("e", "Nowhere", None, None, 20, 10, fresh, True, True),
            ("f", "Old news", 40.724, -74.044, 20, 10, HOUR - timedelta(hours=2), True, True),
            ("zz", "Not in the fleet", 40.7, -74.0, 20, 10, fresh, True, True),
        ]
    )
    rates = _rates({"a": (6.0, 1.0), "b": (1.0, 6.0), "c": (2.0, 2.0), "d": (1, 1), "e": (1, 1), "f": (1, 1)})
    rates = pd.concat([rates, _rates({"g": (1.0, 1.0)})])  # forecast, but no status
    return inventory, rates


def test_every_forecast_station_gets_a_row_and_the_unjudged_say_why() -> None:
    inventory, rates = _fleet()
    frame = hourly.stations_for_hour(inventory, rates, HOUR, RebalancingConfig())
    problems = dict(zip(frame["station_id"], frame["problem"], strict=True))
    assert sorted(problems) == ["a", "b", "c", "d", "e", "f", "g"]  # "zz" has no forecast: not of the fleet
    assert problems["a"] is None
    assert problems["b"] is None
    assert problems["c"] is None
    assert problems["d"] == "no capacity known"
    assert problems["e"] == "no coordinates"
    assert problems["f"] == "status is 120 min old"
    assert problems["g"] == "no status reported"
    judged = dict(zip(frame["station_id"], frame["judged"], strict=True))
    planned = dict(zip(frame["station_id"], frame["planned"], strict=True))
    assert [s for s in judged if judged[s]] == ["a", "b", "c", "e", "f"]
    assert [s for s in planned if planned[s]] == ["a", "b", "c", "f"]


def test_the_plan_moves_bikes_from_the_full_station_to_the_empty_one() -> None:
    inventory, rates = _fleet()
    config = RebalancingConfig()
    stations, plan = hourly.compute(hourly.stations_for_hour(inventory, rates, HOUR, config), config)
    by_id = stations.set_index("station_id")
    assert by_id.loc["a", "p_empty_1h"] == 1.0
    assert by_id.loc["b", "p_full_1h"] == 1.0
    assert [(m.from_station, m.to_station) for m in plan.moves] == [("b", "a")]
    assert by_id.loc["a", "bikes_after_plan"] == plan.moves[0].bikes
    assert by_id.loc["b", "bikes_after_plan"] == 20 - plan.moves[0].bikes
    for sid in ("a", "b"):  # both brought into their interval
        assert by_id.loc[sid, "target_low"] <= by_id.loc[sid, "bikes_after_plan"] <= by_id.loc[sid, "target_high"]
    assert pd.isna(by_id.loc["d", "p_empty_1h"])
    assert pd.isna(by_id.loc["g", "target_low"])


def test_rows_and_document_are_plain_values_and_the_same_on_a_rerun() -> None:
    inventory, rates = _fleet()
    config = RebalancingConfig()
    at = datetime(2026, 12, 7, tzinfo=UTC)
    outputs = []
    for _ in range(2):
        stations, plan = hourly.compute(hourly.stations_for_hour(inventory, rates, HOUR, config), config)
        risk, moves = hourly.risk_rows(stations, HOUR, config, at), hourly.plan_rows(plan, HOUR, at)
        outputs.append(hourly.document(HOUR, config, plan, risk, moves))
    assert outputs[0] == outputs[1]  # the same inputs give the same plan, byte for byte
    body = json.loads(outputs[0])
    assert body["plan_hour"] == HOUR.isoformat()
    assert len(body["stations"]) == 7
    for row in body["stations"]:
        for value in row.values():
            assert not isinstance(value, float) or np.isfinite(value)
    assert [(m["truck"], m["move_order"]) for m in body["moves"]] == [(1, 1)]


def test_a_model_from_before_the_horizons_stands_for_all_three_hours() -> None:
    inventory, _ = _fleet()
    rates = _rates({"a": (6.0, 1.0), "b": (1.0, 6.0)}, horizons=(1,))
    frame = hourly.stations_for_hour(inventory, rates, HOUR, RebalancingConfig())
    row = frame.set_index("station_id").loc["a"]
    assert (row["pickups_2"], row["pickups_3"], row["dropoffs_3"]) == (6.0, 6.0, 1.0)
    assert row["problem"] == "forecast for the next hour only"
    assert bool(row["judged"])
    assert bool(row["planned"])
