# Astro Runtime 3.3 (Airflow 3.3). Astro's ONBUILD steps copy the project to /usr/local/airflow
# and install packages.txt and requirements.txt before the lines below run.
# Keep this tag's Airflow version equal to the apache-airflow pin in requirements.txt.
FROM astrocrpublic.azurecr.io/astronomer/astro-runtime:3.3-2

# The RUN steps below run under bash with pipefail (hadolint DL4006): a pipe fails when any command in it
# fails, not only the last (the jar step pipes curl into cut). The base image's ONBUILD steps, which run
# right after FROM, keep their /bin/sh.
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# dbt in its own virtualenv, as the astronomer-cosmos docs recommend: dbt-bigquery and the Google
# provider pin conflicting google-cloud-storage versions. Installed from the same lock as locally;
# cosmos runs it by path (BIKESHARE_DBT_EXECUTABLE, read by include/dbt/settings.py).
RUN python -m venv /usr/local/airflow/dbt_venv \
    && /usr/local/airflow/dbt_venv/bin/pip install --no-cache-dir -r /usr/local/airflow/requirements-dbt.lock

ENV BIKESHARE_DBT_EXECUTABLE=/usr/local/airflow/dbt_venv/bin/dbt \
    AIRFLOW__COSMOS__ENABLE_TELEMETRY=False \
    AIRFLOW__COSMOS__CACHE_DIR=/usr/local/airflow/.local/cosmos

# The gcp profile writes raw_events with the Storage Write API (exactly-once), which Beam's Python SDK
# runs as a Java cross-language transform: building the Dataflow job needs Java (packages.txt) and
# Beam's GCP expansion-service jar, which Beam would otherwise download from Maven Central at every
# job start. Same Beam version as the apache-beam pin in requirements.txt.
# The jar runs in the scheduler/worker with the deployment's Google credentials, so the build checks it
# before Beam's cache gets it. With BEAM_EXPANSION_JAR_SHA512 pinned (the strong check: a value taken once
# on a trusted network), the jar must match it. Not pinned yet: the value could not be fetched where this
# was written and is never invented. Until it is, the jar is checked against the SHA-1 that Maven Central
# publishes beside it (catches a corrupt or swapped download from a mirror or proxy; not a compromised
# Central), and the build says so. To pin it:
#   base=https://repo.maven.apache.org/maven2/org/apache/beam/beam-sdks-java-io-google-cloud-platform-expansion-service/2.77.0
#   curl -fsSL "$base/beam-sdks-java-io-google-cloud-platform-expansion-service-2.77.0.jar" | sha512sum
#   (after checking that jar against "$base/...jar.sha1" and the ASF signature "$base/...jar.asc").
# Change both values together with the apache-beam pin.
ARG BEAM_VERSION=2.77.0
ARG BEAM_EXPANSION_JAR_SHA512=
RUN jar=/usr/local/airflow/.apache_beam/cache/jars/beam-sdks-java-io-google-cloud-platform-expansion-service-${BEAM_VERSION}.jar \
    && url=https://repo.maven.apache.org/maven2/org/apache/beam/beam-sdks-java-io-google-cloud-platform-expansion-service/${BEAM_VERSION}/beam-sdks-java-io-google-cloud-platform-expansion-service-${BEAM_VERSION}.jar \
    && mkdir -p "$(dirname "$jar")" \
    && curl -fsSL -o "$jar.part" "$url" \
    && if [ -n "${BEAM_EXPANSION_JAR_SHA512}" ]; then \
         printf '%s' "${BEAM_EXPANSION_JAR_SHA512}" | grep -Eqx '[0-9a-f]{128}' \
           || { echo "BEAM_EXPANSION_JAR_SHA512 is not a SHA-512 (128 hex digits)" >&2; exit 1; }; \
         echo "${BEAM_EXPANSION_JAR_SHA512}  $jar.part" | sha512sum -c - ; \
       else \
         echo "WARNING: BEAM_EXPANSION_JAR_SHA512 is not pinned: checking the jar against Maven Central's published SHA-1 only" >&2; \
         sha1=$(curl -fsSL "$url.sha1" | cut -c1-40) \
           && printf '%s' "$sha1" | grep -Eqx '[0-9a-f]{40}' \
           && echo "$sha1  $jar.part" | sha1sum -c - ; \
       fi \
    && mv "$jar.part" "$jar"

# Tests that need the local emulators are skipped in this image, i.e. under `astro dev pytest` and
# `astro deploy --pytest` (tests/conftest.py), where no emulator runs; everywhere else they run and a
# missing emulator fails them. Read by nothing but the tests.
ENV IN_BIKESHARE_IMAGE=1

# The dbt manifest and partial-parse state the features build (cosmos, one `dbt build`) starts from, parsed
# from the project root. WORKDIR rather than `cd` (hadolint DL3003); /usr/local/airflow is already the base
# image's working directory (its ONBUILD `COPY . .` puts the project there), so the image's is unchanged.
WORKDIR /usr/local/airflow
RUN python -m include.dbt parse
