{#- Time helpers shared by the marts. Portable between BigQuery and the emulator: no
    TIMESTAMP_BUCKET / TIMESTAMP_DIFF, DIV arguments without operators (BQ_EMULATOR_SQL.md). -#}

{#- The run's as_of var floored to the 15-minute grid, as a TIMESTAMP literal. -#}
{% macro as_of_end_literal() %}
    {%- set raw = var('as_of', none) -%}
    {%- if raw is none or raw == '' -%}
        {%- if execute and model.resource_type != 'unit_test' -%}
            {{ exceptions.raise_compiler_error("pass the run's data-interval end: --vars '{as_of: 2019-09-01T08:00:00+00:00}'") }}
        {%- endif -%}
        {%- set raw = '1970-01-01T00:00:00+00:00' -%}
    {%- endif -%}
    {{- return(floor_15_minutes_literal(raw)) -}}
{% endmacro %}

{% macro floor_15_minutes_literal(raw) %}
    {%- set parsed = modules.datetime.datetime.fromisoformat((raw | string).replace('Z', '+00:00').replace(' ', 'T')) -%}
    {%- if parsed.tzinfo is none -%}
        {%- set parsed = parsed.replace(tzinfo=modules.pytz.utc) -%}
    {%- endif -%}
    {%- set utc = parsed.astimezone(modules.pytz.utc) -%}
    {%- set floored = utc.replace(minute=utc.minute - utc.minute % 15, second=0, microsecond=0) -%}
    {{- return("timestamp '" ~ floored.strftime('%Y-%m-%d %H:%M:%S') ~ "+00'") -}}
{% endmacro %}

{#- Start of the 15-minute bucket that contains ts. From microseconds: the emulator's UNIX_SECONDS
    rounds (10:59:59.999 -> 11:00:00) where BigQuery truncates; UNIX_MICROS is exact on both. -#}
{% macro floor_15_minutes(ts) -%}
    timestamp_seconds(div(unix_micros({{ ts }}), 900000000) * 900)
{%- endmacro %}

{#- SQL for the newest as_of already in station_features, or a NULL timestamp on a first build or a
    full refresh. Looked up by name (not ref) because station_features is built from this model. -#}
{% macro existing_station_features_max_as_of() %}
    {%- if execute and not flags.FULL_REFRESH -%}
        {%- set relation = adapter.get_relation(database=this.database, schema=this.schema, identifier='station_features') -%}
        {%- if relation is not none -%}
            {{- return('(select max(as_of) from ' ~ relation ~ ')') -}}
        {%- endif -%}
    {%- endif -%}
    {{- return('cast(null as timestamp)') -}}
{% endmacro %}

{#- The merge predicate that keeps an increment from scanning the whole target (and prunes
    partitions on BigQuery). Safe because a run's source rows older than this bound are as_ofs after
    the target's newest one, which cannot match anything. -#}
{% macro lookback_merge_predicate(column, truncate_to_hour=false) %}
    {%- set bound = 'timestamp_sub(' ~ as_of_end_literal() ~ ', interval ' ~ (var('late_event_lookback_minutes') | int) ~ ' minute)' -%}
    {%- if truncate_to_hour -%}
        {%- set bound = 'timestamp_trunc(' ~ bound ~ ', hour)' -%}
    {%- endif -%}
    {{- return('DBT_INTERNAL_DEST.' ~ column ~ ' >= ' ~ bound) -}}
{% endmacro %}
