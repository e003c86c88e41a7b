{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        incremental_predicates=[lookback_merge_predicate('as_of')],
        unique_key=['station_id', 'as_of'],
        on_schema_change='fail',
        partition_by={'field': 'as_of', 'data_type': 'timestamp', 'granularity': 'day'},
        cluster_by=['station_id'],
    )
}}
{#- station_features pivoted: one row per (station_id, as_of), one FLOAT64 column per feature,
    named <feature_name>_<window_len> (<feature_name> for static ones). An increment pivots the
    as_ofs after its own newest one (a catch-up of many as_ofs included) and re-pivots the
    late-event lookback, as station_features recomputed it. -#}

with

tall as (

    select * from {{ ref('station_features') }}
    {%- if is_incremental() %}
    where
        as_of > (select max(as_of) from {{ this }})
        or as_of >= timestamp_sub({{ as_of_end_literal() }}, interval {{ var('late_event_lookback_minutes') | int }} minute)
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
