"""The registry's model file: skops, a format that stores state and never code, read against a reviewed list.

Whoever can write the bucket can write a model file and the checksum beside it, so no check of the bytes
can make a pickle safe to load: unpickling calls whatever the file names. A skops file is a zip of
``schema.json`` (each object's type, by module and name) and ``.npy`` arrays (read with
``allow_pickle=False``); it is loaded in two gates, and nothing is imported or constructed before both pass:

1. :func:`types_in` reads every type the schema names (a JSON read) and refuses any not in
   :data:`TRUSTED_TYPES`, and a root that is not a :class:`~include.ml.model.StationFlowModel`. This list
   is stricter than skops' defaults, which trust every scikit-learn estimator and many numpy functions;
2. ``skops.io.loads(data, trusted=TRUSTED_TYPES)`` audits the same tree again with skops' own rules, then
   builds the objects (``__new__`` + state of trusted types only: no ``__reduce__``, no ``__setstate__``
   of a type outside the list).

:data:`TRUSTED_TYPES` is every type a :class:`StationFlowModel` of each configuration contains, derived
once from the schema of trained models and reviewed (``skops.io.get_untrusted_types`` names only two of
them, the rest skops trusts by default), with :data:`SELECTION_TYPES`, what older models hold besides.
``tests/ml/test_model_file.py`` fails when a trained model needs a type outside it or the list holds one no
model (new or older) needs; :func:`dumps` refuses such a model at training,
so a scikit-learn upgrade that changes the inventory fails the training run, not the serving one.
"""

from __future__ import annotations

import io
import json
import warnings
import zipfile
from types import ModuleType
from typing import Any

ROOT_TYPE = "include.ml.model.StationFlowModel"
# A 26-week model unpacks to 7.7 MB (benchmarks/model_format.py); a file declaring more is refused before it is
# read, so a planted zip bomb cannot exhaust the worker's memory (zipfile reads no more than a member declares).
MAX_UNPACKED_BYTES = 256 * 2**20

# Reviewed 2026-12: scikit-learn 1.9.1, numpy 2.4.6, skops 0.16.0. Containers and strings of the model's
# fields; the pipelines (HistGradientBoostingRegressor with Poisson or squared loss, its bin mapper, trees and
# random generator); the fitted arrays. No function, no callable.
MODEL_TYPES: tuple[str, ...] = (
    "builtins.dict",
    "builtins.list",
    "builtins.str",
    "builtins.tuple",
    ROOT_TYPE,
    "numpy.ndarray",
    "numpy.random._generator.Generator",
    "numpy.uint64",
    "sklearn._loss._loss.CyHalfPoissonLoss",
    "sklearn._loss._loss.CyHalfSquaredError",
    "sklearn._loss.link.IdentityLink",
    "sklearn._loss.link.Interval",
    "sklearn._loss.link.LogLink",
    "sklearn._loss.loss.HalfPoissonLoss",
    "sklearn._loss.loss.HalfSquaredError",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.pipeline.Pipeline",
)
# What models trained before 2026-12-07 hold besides: each pipeline began with a passthrough column selection
# (include/ml/model.py ``_pipeline``). The registry still serves them (a backfill, a rollback), so they load.
SELECTION_TYPES: tuple[str, ...] = (
    "builtins.slice",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.preprocessing._function_transformer.FunctionTransformer",
)
TRUSTED_TYPES: tuple[str, ...] = (*MODEL_TYPES, *SELECTION_TYPES)


def _skops() -> ModuleType:
    """``skops.io``, imported quietly: at import it looks up scipy's ufuncs in every loaded module, which in an
    Airflow worker touches ~1,200 deprecated Airflow attributes, each a warning in the task log."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import skops.io

    return skops.io


class UntrustedModelFile(ValueError):
    """A model file that is not a skops file of a StationFlowModel made of :data:`TRUSTED_TYPES` only."""


def _names(node: Any, found: set[str]) -> set[str]:
    """Every ``module.name`` a schema node or its children refer to (objects, functions, types alike)."""
    if isinstance(node, dict):
        if isinstance(node.get("__module__"), str) and isinstance(node.get("__class__"), str):
            found.add(f"{node['__module__']}.{node['__class__']}")
        for value in node.values():
            _names(value, found)
    elif isinstance(node, list):
        for value in node:
            _names(value, found)
    return found


def _schema(data: bytes) -> dict[str, Any]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
            if unpacked > MAX_UNPACKED_BYTES:
                raise UntrustedModelFile(f"the file unpacks to {unpacked:,} bytes (limit {MAX_UNPACKED_BYTES:,})")
            schema = json.loads(archive.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, ValueError) as err:
        raise UntrustedModelFile(f"not a skops file ({type(err).__name__}: {err})") from None
    if not isinstance(schema, dict):
        raise UntrustedModelFile("not a skops file (its schema.json is not an object)")
    return schema


def types_in(data: bytes) -> set[str]:
    """The types a skops file names, read from its schema as JSON: nothing is imported or built."""
    return _names(_schema(data), set())


def check(data: bytes) -> None:
    """Refuse a file whose root is not a StationFlowModel or that names a type outside TRUSTED_TYPES."""
    schema = _schema(data)
    root = f"{schema.get('__module__')}.{schema.get('__class__')}"
    if root != ROOT_TYPE:
        raise UntrustedModelFile(f"the file holds a {root}, not a {ROOT_TYPE}")
    untrusted = sorted(_names(schema, set()) - set(TRUSTED_TYPES))
    if untrusted:
        raise UntrustedModelFile(f"the file names types outside TRUSTED_TYPES: {', '.join(untrusted[:10])}")


def dumps(model: Any) -> bytes:
    """The model as skops bytes; refuses one that the loader would refuse (so training fails, not serving).

    Deflated: a version is kept per hour, and deflate makes the file 3.9x smaller (7.7 -> 1.9 MB, smaller than
    the pickle's 2.8 MB) for 7 % more load time (353 -> 378 ms; benchmarks/model_format.py)."""
    data = _skops().dumps(model, compression=zipfile.ZIP_DEFLATED)
    try:
        check(data)
    except UntrustedModelFile as err:
        raise UntrustedModelFile(
            f"{err}. If the model really needs them (e.g. after a scikit-learn upgrade), review each type and "
            "add it to include/ml/model_file.py TRUSTED_TYPES"
        ) from None
    return data


def loads(data: bytes) -> Any:
    """The StationFlowModel in skops bytes, once both gates passed (:class:`UntrustedModelFile` otherwise)."""
    skops_io = _skops()
    from skops.io.exceptions import UntrustedTypesFoundException

    check(data)
    try:
        model = skops_io.loads(data, trusted=list(TRUSTED_TYPES))
    except UntrustedTypesFoundException as err:
        raise UntrustedModelFile(f"skops refused the file: {err}") from None
    except Exception as err:  # a schema of trusted types whose state does not fit them: corrupt, never run
        raise UntrustedModelFile(f"skops could not rebuild the model ({type(err).__name__}: {err})") from None
    from include.ml.model import StationFlowModel

    if not isinstance(model, StationFlowModel):
        raise UntrustedModelFile(f"the file rebuilt a {type(model).__name__}, not a StationFlowModel")
    return model
