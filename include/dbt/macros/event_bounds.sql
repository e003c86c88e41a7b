{#- Lower bounds on the event time for the reads of raw_events (partitioned by day on ts_iso) and
    stg_raw_events (on event_at) in an increment, known before the query runs and rendered as
    TIMESTAMP literals: BigQuery prunes partitions on a literal filter of the partition column, not
    reliably on a subquery (docs/country.md §4). Each bound is at or before the oldest event the read
    can use, so the results are those of an unbounded read. A full refresh or a first build has no
    bound: it reads the whole history. tests/dbt/test_partition_pruning.py checks the compiled SQL. -#}

{#- The oldest event time an increment of stg_raw_events can meet among the raw rows it does not hold
    yet (a datetime), or none: no bound (the features were never built).
    Why it is safe: the newest as_of the features hold, W, was built by a run that first updated the
    staging table, at W or later. A raw row missing from it was not visible then; like the staging
    model's 60-minute margin, assume a row is visible within 60 minutes of its ingest, so the ingest
    accepted it at W - 60 min or later, and the ingest refuses events more than late_event_limit_minutes
    older than its clock (`too_late`, include/gcp/events.py): its ts_iso >= W - limit - 60 min. The bound
    keeps another hour: W - limit - 120 min, and no later than the run's as_of - limit - 120 min (a
    backfill of an older interval). A history load behind that needs a full refresh, as it already does
    for the marts (include/dbt/README.md). Copies of one event_id carry one ts_iso (the id hashes the
    trip), so the dedupe against the table needs only the same bound. -#}
{% macro staging_event_floor() %}
    {%- set newest = newest_time('station_features_wide', 'as_of') -%}
    {%- if newest is none -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- set anchor = newest -%}
    {%- if var('as_of', none) -%}
        {%- set anchor = [newest, as_of_end_datetime()] | min -%}
    {%- endif -%}
    {{- return(anchor - modules.datetime.timedelta(minutes=(var('late_event_limit_minutes') | int) + 120)) -}}
{% endmacro %}

{#- The newest ingested_at of the staging table's rows with event_at >= `floor` (a datetime), or none.
    At most the newest ingested_at of all its rows, so the increment that reads the raw rows ingested
    since this one less the margin reads a superset of what an unbounded lookup selects; the dedupe
    drops the extra rows (the staging table holds them already). -#}
{% macro staging_newest_ingested_at(floor) %}
    {%- if not execute -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- set sql = 'select max(ingested_at) as newest from ' ~ this ~ ' where event_at >= ' ~ timestamp_literal(floor) -%}
    {%- set newest = run_query(sql).columns[0].values()[0] -%}
    {{- return(none if newest is none else parse_utc(newest)) -}}
{% endmacro %}

{#- The earliest as_of an increment of station_features_wide can rebuild (a datetime), or none on a
    first build: at or before int_feature_run_bounds' start_as_of, the least of the newest as_of + 15
    min, as_of - the lookback and the late-event rebuild, which starts no earlier than 45 minutes
    before the first time of the late-event check window (macros/late_events.sql). From the same
    literals, without the recount (which runs once, in int_feature_run_bounds); one `max(as_of)`. -#}
{% macro feature_start_as_of_floor() %}
    {%- set newest = newest_time('station_features_wide', 'as_of') -%}
    {%- if newest is none -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- set delta = modules.datetime.timedelta -%}
    {%- set as_of_end = as_of_end_datetime() -%}
    {%- set candidates = [
        newest + delta(minutes=15),
        as_of_end - delta(minutes=var('late_event_lookback_minutes') | int),
    ] -%}
    {%- set window = late_event_check_window(newest, 15, as_of_end, var('features_start', none)) -%}
    {%- if window is not none -%}
        {%- do candidates.append(window.first - delta(minutes=45)) -%}
    {%- endif -%}
    {{- return(candidates | min) -}}
{% endmacro %}
