{#- Tests of the marts check the rows a run can have written, not the whole history: without this,
    every 15-minute `dbt test` would scan all of station_features (57 M rows for 9 months here, bytes
    billed on BigQuery), and the run's cost would grow with the history instead of the new data.

    dbt_project.yml gives every test under models/staging and models/marts `where: "__run_window__"`; this override of
    dbt's get_where_subquery (the documented hook for templated `where` filters) turns it into
    "<time column> >= as_of - test_window_minutes". Without an `as_of` var, or with
    test_window_minutes null, the tests see the whole table: `python -m include.dbt test` is the
    full audit. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if where and '__run_window__' in where -%}
        {%- set where = where | replace('__run_window__', run_window_filter(relation)) -%}
    {%- endif -%}
    {%- if where and where != 'true' -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {{- return(filtered) -}}
    {%- endif -%}
    {{- return(relation) -}}
{%- endmacro %}

{#- The time column each mart is keyed on; a relation not listed here is tested whole. -#}
{% macro run_window_time_columns() %}
    {{- return({
        'raw_events': 'ts_iso',
        'stg_raw_events': 'event_at',
        'station_features': 'as_of',
        'station_features_wide': 'as_of',
        'station_hourly_labels': 'hour_start',
        'station_predictions': 'target_hour',
    }) -}}
{% endmacro %}

{% macro run_window_filter(relation) %}
    {%- set column = run_window_time_columns().get(relation.identifier) -%}
    {%- set minutes = var('test_window_minutes', none) -%}
    {%- if column is none or minutes is none or var('as_of', none) in (none, '') -%}
        {{- return('true') -}}
    {%- endif -%}
    {{- return(column ~ ' >= timestamp_sub(' ~ as_of_end_literal() ~ ', interval ' ~ (minutes | int) ~ ' minute)') -}}
{% endmacro %}
