"""Model-quality research: offline experiments that score forecasts, not product code and not speed benchmarks.

``model_research`` compares models and features (with a pandas copy of the dbt feature contract, tied to the
dbt table by ``tests/research/test_feature_copy.py``), ``walk_forward`` scores the production model over three
months, ``time_reversed`` plays the nine months backwards (a falling season). Product code (``include/``,
``dags/``) never imports this package; it imports ``include/`` (the metrics of ``include/ml/evaluate.py``, the
model, the baselines). Speed and throughput measurements live in ``benchmarks/``. See README.md here.
"""
