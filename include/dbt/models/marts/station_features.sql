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
{#- The tall feature table: one row per station, feature, window and as_of. Which as_ofs a run
    (re)builds is decided in int_station_features_windowed (missing ones, the late-event lookback, and
    the as_ofs from the earliest one whose counts miss a late event: macros/late_events.sql); the
    merge on the unique key makes a re-run change nothing. Its predicate reaches back as far as a run
    can recompute, so a recomputed as_of updates its rows, never duplicates them. -#}

with

features as (

    select * from {{ ref('int_station_features_windowed') }}

),

unpivoted as (

    select
        features.station_id,
        feature.feature_name,
        feature.window_len,
        feature.value,
        features.as_of
    from features
    cross join unnest([
        {%- for spec in station_feature_specs() %}
        struct(
            '{{ spec.feature_name }}' as feature_name,
            '{{ spec.window_len }}' as window_len,
            features.{{ spec.column }} as value
        ){{ ',' if not loop.last }}
        {%- endfor %}
    ]) as feature

)

select * from unpivoted
