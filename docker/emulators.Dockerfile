# The BigQuery and GCS emulators for `astro dev start` (docker-compose.override.yml), installed
# from the same lock as the local .venv-emulators. Google's Pub/Sub emulator has its own image.
FROM python:3.11-slim
COPY requirements-emulators.lock /tmp/requirements-emulators.lock
RUN pip install --no-cache-dir -r /tmp/requirements-emulators.lock && mkdir -p /data
# bqemulator without its per-write full-table copies when time travel is off (see the file)
COPY include/localstack/bqemulator_launcher.py /opt/bqemulator_launcher.py
WORKDIR /data
