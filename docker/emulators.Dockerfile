# The BigQuery and GCS emulators for `astro dev start` (docker-compose.override.yml), installed
# from the same lock as the local .venv-emulators. Google's Pub/Sub emulator has its own image.
FROM python:3.11-slim
COPY requirements-emulators.lock /tmp/requirements-emulators.lock
RUN pip install --no-cache-dir -r /tmp/requirements-emulators.lock && mkdir -p /data
WORKDIR /data
