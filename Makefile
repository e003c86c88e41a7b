# Local development without Docker. `make demo` and `make test` are the two entry points.
SHELL := /bin/bash
.DEFAULT_GOAL := help
ENV := source scripts/dev_env.sh &&
PY := .venv/bin/python

.PHONY: help install lock stack-up stack-down stack-status resources airflow-db demo airflow backfill test lint fmt ci clean \
	replay stream-start stream-state stream-drain dbt-parse

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-13s %s\n", $$1, $$2}'

install:  ## build .venv, .venv-dbt and .venv-emulators from the locks (idempotent)
	@bash scripts/install.sh

lock:  ## re-resolve the three locks from requirements*.txt (needs .venv)
	.venv/bin/uv pip compile --quiet --python-version 3.11 requirements.txt -o requirements.lock
	.venv/bin/uv pip compile --quiet --python-version 3.11 requirements-dbt.txt -o requirements-dbt.lock
	.venv/bin/uv pip compile --quiet --python-version 3.11 requirements-emulators.txt -o requirements-emulators.lock

stack-up: install  ## start the Pub/Sub, BigQuery and GCS emulators (idempotent; state in .local/)
	@$(PY) -m include.localstack up

stack-down:  ## stop exactly the emulators that stack-up started
	@$(PY) -m include.localstack down

stack-status:  ## show which emulators answer
	@$(PY) -m include.localstack status

resources: stack-up  ## create topic, subscription, dataset, tables and bucket (idempotent)
	@$(PY) -m include.localstack resources

airflow-db: install  ## migrate the venv's Airflow DB and load airflow_settings.yaml (idempotent)
	@mkdir -p .local && $(ENV) airflow db migrate > .local/airflow-db-migrate.log 2>&1 || (tail -20 .local/airflow-db-migrate.log; exit 1)
	@$(ENV) python scripts/load_airflow_settings.py

demo: resources airflow-db  ## the whole lifecycle locally, each step a DAG run: setup, history, stream, replay, features, train + predict
	@$(ENV) python scripts/demo.py
	@echo "demo done: emulators still running (make stack-down to stop); UI: make airflow"

airflow: stack-up airflow-db  ## airflow standalone from the venv, UI on http://localhost:8080 bound to 127.0.0.1 (BIKESHARE_AIRFLOW_HOST/_PORT); stop with Ctrl-C or SIGTERM
	@bash scripts/airflow_standalone.sh

backfill: airflow-db  ## unpause DAG and backfill it FROM..TO (logical dates; runs with make airflow up): DAG=x FROM=.. TO=.. make backfill
	@test -n "$(DAG)" -a -n "$(FROM)" -a -n "$(TO)" || (echo "usage: DAG=bikeshare_train_predict FROM=2019-09-23T04:00:00+00:00 TO=2019-09-24T04:00:00+00:00 make backfill"; exit 2)
	@$(ENV) airflow dags unpause "$(DAG)" && airflow backfill create --dag-id "$(DAG)" --from-date "$(FROM)" --to-date "$(TO)"

replay: resources  ## replay one day of Sep 2019 trips to the topic at 3600x (python -m include.simulator --help)
	@$(ENV) python -m include.simulator --month 2019-09 --from 2019-09-03T04:00Z --to 2019-09-04T04:00Z --speed-up 3600

stream-start: resources  ## start the streaming pipeline (local: DirectRunner in the background; idempotent)
	@$(ENV) python -m include.beam.control.stream_ctl start

stream-state:  ## state of the streaming job
	@$(ENV) python -m include.beam.control.stream_ctl state

stream-drain:  ## drain (never cancel) the streaming job
	@$(ENV) python -m include.beam.control.stream_ctl drain

dbt-parse:  ## rebuild include/dbt/target/manifest.json (also done by make install)
	@$(ENV) python -m include.dbt parse

test: install  ## the whole test suite (starts the local stack itself if it is not up)
	@$(ENV) .venv/bin/pytest

lint:  ## ruff check + format check
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

fmt:
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

ci:  ## what CI runs (.ci/run)
	CI=true bash .ci/run

clean: stack-down  ## stop the stack and delete local state (.local/)
	rm -rf .local
