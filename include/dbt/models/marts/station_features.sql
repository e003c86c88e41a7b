{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        incremental_predicates=[late_event_merge_predicate('as_of')],
        unique_key=['station_id', 'feature_name', 'window_len', 'as_of'],
        partition_by={'field': 'as_of', 'data_type': 'timestamp', 'granularity': 'day'},
        cluster_by=['station_id', 'feature_name'],
    )
}}
{#- The tall feature table: station_features_wide unpivoted, one row per station, feature, window and
    as_of (the catalogue: macros/feature_specs.sql). An increment unpivots the as_ofs after its own
    newest one (a catch-up of many included), the late-event lookback, and the as_ofs from the
    earliest one whose 1-hour counts here miss a late event (checked against the events, as the wide
    table is: macros/late_events.sql), which covers the as_ofs the wide table recomputed for it, also
    when an earlier run stopped between the two. The merge on the unique key makes a re-run change
    nothing; its predicate reaches back as far as a run can recompute. -#}
-- depends_on: {{ ref('stg_raw_events') }}
-- depends_on: {{ ref('int_fleet_stations') }}
{%- set lookback = var('late_event_lookback_minutes') | int %}

with

wide as (

    select * from {{ ref('station_features_wide') }}
    {%- if is_incremental() %}
    {%- set newest = timestamp_literal(newest_time(this.identifier, 'as_of')) %}
    where
        as_of > {{ newest }}
        or as_of >= timestamp_sub({{ as_of_end_literal() }}, interval {{ lookback }} minute)
        or as_of >= coalesce({{ late_event_start_as_of() }}, {{ as_of_end_literal() }})
    {%- endif %}

),

unpivoted as (

    select
        wide.station_id,
        feature.feature_name,
        feature.window_len,
        feature.value,
        wide.as_of
    from wide
    cross join unnest([
        {%- for spec in station_feature_specs() %}
        struct(
            '{{ spec.feature_name }}' as feature_name,
            '{{ spec.window_len }}' as window_len,
            wide.{{ spec.column }} as value
        ){{ ',' if not loop.last }}
        {%- endfor %}
    ]) as feature

)

select * from unpivoted
