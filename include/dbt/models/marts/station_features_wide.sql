{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key=['station_id', 'as_of'],
        partition_by={'field': 'as_of', 'data_type': 'timestamp', 'granularity': 'day'},
        cluster_by=['station_id'],
    )
}}
{#- station_features pivoted: one row per (station_id, as_of), one FLOAT64 column per feature,
    named <feature_name>_<window_len> (<feature_name> for static ones). An increment re-pivots the
    as_ofs from its own newest one minus the late-event lookback, so it follows every rebuild of
    station_features, including a catch-up of many as_ofs. -#}

with

tall as (

    select * from {{ ref('station_features') }}
    {%- if is_incremental() %}
    where as_of >= (
        select timestamp_sub(max(as_of), interval {{ var('late_event_lookback_minutes') | int }} minute)
        from {{ this }}
    )
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
