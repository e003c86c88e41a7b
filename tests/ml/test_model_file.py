"""The model file format (no emulator): the reviewed type list stays in step with the models, a trained model
round-trips exactly, and files that would run code are refused by both gates before anything is built."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io
from skops.io.exceptions import UntrustedTypesFoundException

from include.ml import model_file
from include.ml.model import StationFlowModel
from tests.ml import planting

CONFIGS = [("direct", "mean_diff"), ("mean_diff", "mean_diff"), ("skellam_median", "direct")]


def _frame(rows: int, seed: int = 0) -> pd.DataFrame:
    """Four stations' consecutive hours (the later horizons' labels are the same station's later rows)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, 4)), columns=["a", "b", "c", "d"])
    frame["station_id"] = np.arange(rows) % 4
    frame["hour_start"] = pd.Timestamp("2019-08-01", tz="UTC") + pd.to_timedelta(np.arange(rows) // 4, unit="h")
    frame.loc[::7, "c"] = np.nan  # missing features, as new stations have
    frame["pickups"] = rng.poisson(np.exp(0.4 * frame["a"]))
    frame["dropoffs"] = rng.poisson(np.exp(0.4 * frame["b"]))
    frame["net_change"] = frame["dropoffs"] - frame["pickups"]
    return frame


@pytest.fixture(scope="module")
def trained() -> dict[tuple[str, str, int], tuple[StationFlowModel, pd.DataFrame]]:
    """Every configuration, below and above HistGradientBoosting's early-stopping threshold (10,000 rows)."""
    out = {}
    for net, mean in CONFIGS:
        for rows in (600, 12_000):
            frame = _frame(rows)
            params = {"max_iter": 15, "random_state": 0}
            out[(net, mean, rows)] = (
                StationFlowModel(["a", "b", "c", "d"], net, params, mean_forecast=mean).fit(frame),
                frame,
            )
    return out


def _with_column_selection(model: StationFlowModel, frame: pd.DataFrame) -> StationFlowModel:
    """The model as the code before 2026-12-07 trained it: each pipeline a passthrough ``ColumnTransformer``
    selecting the inputs by name before the boosting, fitted on the same inputs and labels (a one-off check
    against a file of that code, agreed)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.pipeline import Pipeline

    from include.ml.model import counts_by_hour, horizon_labels

    def selecting(columns: list[str], loss: str) -> Pipeline:
        select = ColumnTransformer([("features", "passthrough", columns)], remainder="drop")
        return Pipeline([("select", select), ("boost", HistGradientBoostingRegressor(loss=loss, **model.params))])

    old = StationFlowModel(model.features, model.net_forecast, dict(model.params), mean_forecast=model.mean_forecast)
    x = frame[model.features]
    for name in model.pipelines:
        if name in ("pickups", "dropoffs", "net_change"):
            loss = "squared_error" if name == "net_change" else "poisson"
            old.pipelines[name] = selecting(model.features, loss).fit(x, frame[name])
    counts = counts_by_hour(frame)
    for k in range(2, model.horizons + 1):
        labels = horizon_labels(frame, k, counts)
        known = labels["pickups"].notna().to_numpy()
        ahead = model._ahead_rows(frame[known], k, counts)
        ahead = ahead.fillna(dict.fromkeys([c for c in ahead if ahead[c].isna().all()], 0.0))  # as the fit does
        for label in ("pickups", "dropoffs"):
            old.pipelines[f"{label}_h{k}"] = selecting(list(ahead.columns), "poisson").fit(ahead, labels[known][label])
    return old


def test_the_trusted_list_is_exactly_what_trained_models_hold(trained) -> None:
    """A model needing a type outside TRUSTED_TYPES fails here (and at training); so does a stale entry: each
    type is held by today's models or by those of before 2026-12-07 (their column selection)."""
    held = set()
    for model, _ in trained.values():
        data = skops.io.dumps(model)
        assert model_file.types_in(data) <= set(model_file.TRUSTED_TYPES)
        assert set(skops.io.get_untrusted_types(data=data)) <= set(model_file.TRUSTED_TYPES)
        held |= model_file.types_in(data)
    model, frame = trained[("direct", "mean_diff", 600)]
    held_before = model_file.types_in(skops.io.dumps(_with_column_selection(model, frame)))
    assert held == set(model_file.MODEL_TYPES)
    assert held_before - held == set(model_file.SELECTION_TYPES)
    assert not [
        t for t in model_file.TRUSTED_TYPES if t.startswith(("os.", "posix.", "builtins.exec", "builtins.eval"))
    ]


def test_a_trained_model_round_trips_and_predicts_identically(trained) -> None:
    for model, frame in trained.values():
        loaded = model_file.loads(model_file.dumps(model))
        assert isinstance(loaded, StationFlowModel)
        assert (loaded.features, loaded.net_forecast, loaded.mean_forecast, loaded.horizons) == (
            model.features,
            model.net_forecast,
            model.mean_forecast,
            3,
        )
        pd.testing.assert_frame_equal(loaded.predict(frame), model.predict(frame), check_exact=True)
        pd.testing.assert_frame_equal(
            loaded.predict_horizons(frame, frame), model.predict_horizons(frame, frame), check_exact=True
        )


def test_a_model_file_from_before_the_horizons_loads_and_predicts_the_next_hour_only(trained) -> None:
    """Files written before the horizons hold a state without ``horizons`` / ``ahead`` / ``ahead_history``
    (a one-off check with a file written by the code before them, 2026-12, agreed): they load, and serve
    horizon 1 exactly as they did."""
    model, frame = trained[("skellam_median", "direct", 600)]
    old = StationFlowModel(model.features, "skellam_median", {"max_iter": 15, "random_state": 0}, horizons=1)
    old.mean_forecast = "direct"
    old.fit(frame)
    for name in ("horizons", "ahead", "ahead_history"):
        delattr(old, name)
    loaded = model_file.loads(model_file.dumps(old))
    assert "horizons" not in vars(loaded)
    assert not loaded.needs_history
    by_horizon = loaded.predict_horizons(frame)  # no label history needed
    assert by_horizon["horizon"].unique().tolist() == [1]
    pd.testing.assert_frame_equal(by_horizon.drop(columns="horizon"), loaded.predict(frame))
    pd.testing.assert_frame_equal(loaded.predict(frame), model.predict(frame), check_exact=True)  # same horizon 1


@pytest.mark.parametrize("rows", [600, 12_000])
def test_a_model_file_from_before_the_inputs_block_loads_and_predicts_as_todays_model(trained, rows: int) -> None:
    """Models trained before 2026-12-07 selected their inputs with a ``ColumnTransformer`` in each pipeline;
    today's get them as one block (include/ml/model.py ``_inputs``, a copy less per fit). A file of the older
    kind still loads, and it predicts every horizon exactly as today's model fitted on the same rows: the
    change took memory, not accuracy (below and above the early-stopping threshold)."""
    for net, mean in CONFIGS:
        model, frame = trained[(net, mean, rows)]
        loaded = model_file.loads(model_file.dumps(_with_column_selection(model, frame)))
        assert "select" in loaded.pipelines["pickups"].named_steps
        pd.testing.assert_frame_equal(
            loaded.predict_horizons(frame, frame), model.predict_horizons(frame, frame), check_exact=True
        )


@pytest.mark.parametrize("payload", ["skops calling builtins.exec", "skops calling os.system"])
def test_a_skops_file_that_would_run_code_is_refused_by_both_gates(payload: str, tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    _, data = planting.payloads(marker)[payload]
    callable_ = "builtins.exec" if "exec" in payload else "os.system"
    with pytest.raises(model_file.UntrustedModelFile, match=re.escape(f"outside TRUSTED_TYPES: {callable_}")):
        model_file.loads(data)
    with pytest.raises(UntrustedTypesFoundException, match=re.escape(callable_)):  # skops' own audit, on its own
        skops.io.loads(data, trusted=list(model_file.TRUSTED_TYPES))
    assert not marker.exists()
    # the payload is real: a loader that trusted the callable would have run it
    skops.io.loads(data, trusted=[*model_file.TRUSTED_TYPES, callable_])
    assert marker.exists()


def test_a_pickle_or_another_root_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    _, pickled = planting.payloads(marker)["pickle as model.skops"]
    with pytest.raises(model_file.UntrustedModelFile, match="not a skops file"):
        model_file.loads(pickled)
    with pytest.raises(model_file.UntrustedModelFile, match=re.escape("holds a builtins.dict, not a include.ml.model")):
        model_file.loads(skops.io.dumps({"weights": "1 2 3"}))
    assert not marker.exists()


def test_training_refuses_a_model_the_loader_would_refuse() -> None:
    """An unreviewed type fails the training run with what to do, never the serving run later."""
    model = StationFlowModel(["a"], params={"learning_rate": np.float64(0.1)})
    with pytest.raises(model_file.UntrustedModelFile, match=r"numpy.float64.*add it to include/ml/model_file.py"):
        model_file.dumps(model)


def test_a_file_that_unpacks_past_the_limit_is_refused_before_it_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """A planted zip bomb cannot exhaust the worker's memory: the declared sizes are checked first."""
    data = model_file.dumps(StationFlowModel(["a"]))
    monkeypatch.setattr(model_file, "MAX_UNPACKED_BYTES", 1_000)
    with pytest.raises(model_file.UntrustedModelFile, match="unpacks to"):
        model_file.loads(data)


def test_no_product_code_can_unpickle() -> None:
    """The rule behind the format, kept by a scan: nothing in dags/, include/ or plugins/ imports a pickle
    loader (pickle, joblib, dill, cloudpickle), so no path can unpickle bucket bytes."""
    import ast

    from tests.conftest import ROOT

    loaders = {"pickle", "_pickle", "cPickle", "joblib", "dill", "cloudpickle"}
    found = []
    for folder in ("dags", "include", "plugins"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                if isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                found += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in loaders]
    assert found == []
