"""Hourly training and batch prediction: dataset, baselines, model, gate, registry, predictions, plot.

Imports only :mod:`include.gcp`; reads the dbt feature store through BigQuery and writes artefacts to
the bucket (docs/design.md §2.5-2.7).
"""
