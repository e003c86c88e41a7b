# Astro Runtime 3.3 (Airflow 3.3). Astro's ONBUILD steps copy the project to /usr/local/airflow
# and install packages.txt and requirements.txt before the lines below run.
# Keep this tag's Airflow version equal to the apache-airflow pin in requirements.txt.
FROM astrocrpublic.azurecr.io/astronomer/astro-runtime:3.3-2

# dbt in its own virtualenv, as the astronomer-cosmos docs recommend: dbt-bigquery and the Google
# provider pin conflicting google-cloud-storage versions. Installed from the same lock as locally;
# cosmos runs it by path (BIKESHARE_DBT_EXECUTABLE, read by include/gcp/settings.py).
RUN python -m venv /usr/local/airflow/dbt_venv \
    && /usr/local/airflow/dbt_venv/bin/pip install --no-cache-dir -r /usr/local/airflow/requirements-dbt.lock

ENV BIKESHARE_DBT_EXECUTABLE=/usr/local/airflow/dbt_venv/bin/dbt \
    AIRFLOW__COSMOS__ENABLE_TELEMETRY=False \
    AIRFLOW__COSMOS__CACHE_DIR=/usr/local/airflow/.local/cosmos

# The gcp profile writes raw_events with the Storage Write API (exactly-once), which Beam's Python SDK
# runs as a Java cross-language transform: building the Dataflow job needs Java (packages.txt) and
# Beam's GCP expansion-service jar, which Beam would otherwise download from Maven Central at every
# job start. Same Beam version as the apache-beam pin in requirements.txt.
ARG BEAM_VERSION=2.77.0
RUN mkdir -p /usr/local/airflow/.apache_beam/cache/jars \
    && curl -fsSL -o /usr/local/airflow/.apache_beam/cache/jars/beam-sdks-java-io-google-cloud-platform-expansion-service-${BEAM_VERSION}.jar \
       https://repo.maven.apache.org/maven2/org/apache/beam/beam-sdks-java-io-google-cloud-platform-expansion-service/${BEAM_VERSION}/beam-sdks-java-io-google-cloud-platform-expansion-service-${BEAM_VERSION}.jar

# The dbt manifest that bikeshare_features renders from (cosmos LoadMode.DBT_MANIFEST).
RUN cd /usr/local/airflow && python -m include.dbt parse
