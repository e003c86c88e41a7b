{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        incremental_predicates=[late_event_merge_predicate('as_of')],
        unique_key=['station_id', 'as_of'],
        on_schema_change='fail',
        partition_by={'field': 'as_of', 'data_type': 'timestamp', 'granularity': 'day'},
        cluster_by=['station_id'],
    )
}}
{#- station_features pivoted: one row per (station_id, as_of), one FLOAT64 column per feature,
    named <feature_name>_<window_len> (<feature_name> for static ones). An increment pivots the
    as_ofs after its own newest one (a catch-up of many as_ofs included), re-pivots the late-event
    lookback, and re-pivots from the earliest as_of whose 1-hour counts here miss a late event
    (checked against the events, as station_features is: macros/late_events.sql), which covers the
    as_ofs station_features recomputed for it, also when an earlier run stopped between the two. -#}
-- depends_on: {{ ref('stg_raw_events') }}
{%- set lookback = var('late_event_lookback_minutes') | int %}

with

tall as (

    select * from {{ ref('station_features') }}
    {%- if is_incremental() %}
    {%- set newest = timestamp_literal(newest_time(this.identifier, 'as_of')) %}
    where
        as_of > {{ newest }}
        or as_of >= timestamp_sub({{ as_of_end_literal() }}, interval {{ lookback }} minute)
        or as_of >= coalesce({{ late_event_start_as_of_wide() }}, {{ as_of_end_literal() }})
    {%- endif %}

),

pivoted as (

    select
        station_id,
        as_of,
        {%- for spec in station_feature_specs() %}
        max(if(feature_name = '{{ spec.feature_name }}' and window_len = '{{ spec.window_len }}', value, null))
            as {{ spec.column }}{{ ',' if not loop.last }}
        {%- endfor %}
    from tall
    group by station_id, as_of

)

select * from pivoted
