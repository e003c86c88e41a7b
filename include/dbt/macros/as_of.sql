{#- Time helpers shared by the marts. Portable between BigQuery and the emulator: no
    TIMESTAMP_BUCKET / TIMESTAMP_DIFF, DIV arguments without operators (docs/local-stack.md).
    Bounds a run knows before its query runs (the as_of var, the newest time a mart holds) become
    TIMESTAMP literals, which BigQuery can prune partitions with. -#}

{#- The run's as_of var floored to the 15-minute grid, as a TIMESTAMP literal. -#}
{% macro as_of_end_literal() %}
    {{- return(timestamp_literal(as_of_end_datetime())) -}}
{% endmacro %}

{#- The same as a Python datetime (UTC). -#}
{% macro as_of_end_datetime() %}
    {%- set raw = var('as_of', none) -%}
    {%- if raw is none or raw == '' -%}
        {%- if execute and model.resource_type != 'unit_test' -%}
            {{ exceptions.raise_compiler_error("pass the run's data-interval end: --vars '{as_of: 2019-09-01T08:00:00+00:00}'") }}
        {%- endif -%}
        {%- set raw = '1970-01-01T00:00:00+00:00' -%}
    {%- endif -%}
    {{- return(floor_minutes(parse_utc(raw), 15)) -}}
{% endmacro %}

{% macro floor_15_minutes_literal(raw) %}
    {{- return(timestamp_literal(floor_minutes(parse_utc(raw), 15))) -}}
{% endmacro %}

{#- An ISO 8601 string (or a datetime) as an aware UTC datetime; naive values are taken as UTC. -#}
{% macro parse_utc(raw) %}
    {%- if raw is string -%}
        {%- set parsed = modules.datetime.datetime.fromisoformat(raw.replace('Z', '+00:00').replace(' ', 'T')) -%}
    {%- else -%}
        {%- set parsed = raw -%}
    {%- endif -%}
    {%- if parsed.tzinfo is none -%}
        {%- set parsed = parsed.replace(tzinfo=modules.pytz.utc) -%}
    {%- endif -%}
    {{- return(parsed.astimezone(modules.pytz.utc)) -}}
{% endmacro %}

{#- value floored to a grid of `step` minutes (15, or 60 for hours). -#}
{% macro floor_minutes(value, step) %}
    {{- return(value.replace(minute=value.minute - value.minute % step, second=0, microsecond=0)) -}}
{% endmacro %}

{#- A datetime as a TIMESTAMP literal; none gives a NULL timestamp. -#}
{% macro timestamp_literal(value) %}
    {%- if value is none -%}
        {{- return('cast(null as timestamp)') -}}
    {%- endif -%}
    {{- return("timestamp '" ~ parse_utc(value).strftime('%Y-%m-%d %H:%M:%S') ~ "+00'") -}}
{% endmacro %}

{#- Start of the 15-minute bucket that contains ts. From microseconds: the emulator's UNIX_SECONDS
    rounds (10:59:59.999 -> 11:00:00) where BigQuery truncates; UNIX_MICROS is exact on both. -#}
{% macro floor_15_minutes(ts) -%}
    timestamp_seconds(div(unix_micros({{ ts }}), 900000000) * 900)
{%- endmacro %}

{#- The newest value of `column` in the model `identifier` of this run's schema, as a Python
    datetime; none at parse time, on a first build, on a full refresh and for an empty table.
    Looked up by name, not ref: station_features is built from the model that asks. One
    `select max(...)`, run while the model compiles. With an as_of, first among the values since the
    merge floor (macros/late_events.sql; `column` is the table's partition column, so BigQuery reads
    ~5 day partitions of one column, not all of them), and over the whole table only when none is
    that recent (after an outage): the same value either way. -#}
{% macro newest_time(identifier, column) %}
    {%- if not execute or flags.FULL_REFRESH -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- set relation = adapter.get_relation(database=this.database, schema=this.schema, identifier=identifier) -%}
    {%- if relation is none -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- set sql = 'select max(' ~ column ~ ') as newest from ' ~ relation -%}
    {%- set newest = none -%}
    {%- if var('as_of', none) -%}
        {%- set since = sql ~ ' where ' ~ column ~ ' >= ' ~ timestamp_literal(late_event_merge_floor()) -%}
        {%- set newest = run_query(since).columns[0].values()[0] -%}
    {%- endif -%}
    {%- if newest is none -%}
        {%- set newest = run_query(sql).columns[0].values()[0] -%}
    {%- endif -%}
    {{- return(none if newest is none else parse_utc(newest)) -}}
{% endmacro %}
