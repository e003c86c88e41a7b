{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        incremental_predicates=[late_event_merge_predicate('hour_start', truncate_to_hour=true)],
        unique_key=['station_id', 'hour_start'],
        partition_by={'field': 'hour_start', 'data_type': 'timestamp', 'granularity': 'day'},
        cluster_by=['station_id'],
    )
}}
{#- What the model predicts: pickups, dropoffs and net change of each active station in each
    complete hour [hour_start, hour_start + 1h) before the run's as_of (zeros included). An increment
    builds the missing hours, recomputes the late-event lookback and, like station_features, every
    hour from the earliest one whose stored counts miss a late event (macros/late_events.sql). -#}
{%- set lookback = var('late_event_lookback_minutes') | int -%}

with

events as (

    select * from {{ ref('stg_raw_events') }}

),

fleet as (

    select * from {{ ref('int_fleet_stations') }}

),

params as (

    select
        -- the last complete hour ends at or before the run's as_of
        timestamp_trunc({{ as_of_end_literal() }}, hour) as hours_end,
        {%- set existing_max = newest_time(this.identifier, 'hour_start') if is_incremental() else none %}
        {{ timestamp_literal(existing_max) }} as existing_max_hour,
        {%- if existing_max is not none %}
        {{ late_event_start_hour() }} as late_event_hour,
        cast(null as timestamp) as first_hour  -- an increment: only a first build reads the whole history
        {%- else %}
        cast(null as timestamp) as late_event_hour,
        (select timestamp_trunc(min(event_at), hour) from events) as first_hour
        {%- endif %}

),

bounds as (

    select
        hours_end,
        case
            when existing_max_hour is null then first_hour
            else least(
                timestamp_add(existing_max_hour, interval 1 hour),
                timestamp_trunc(timestamp_sub(hours_end, interval {{ lookback }} minute), hour),
                coalesce(late_event_hour, hours_end)
            )
        end as start_hour
    from params

),

hours as (

    select hour_start
    from bounds
    cross join unnest(generate_timestamp_array(bounds.start_hour, timestamp_sub(bounds.hours_end, interval 1 hour), interval 1 hour)) as hour_start

),

hourly_counts as (

    {{ station_event_counts(
        'timestamp_trunc(event_at, hour)', 'hour_start', '(select start_hour from bounds)', '(select hours_end from bounds)'
    ) }}

),

labels as (

    select
        fleet.station_id,
        hours.hour_start,
        coalesce(hourly_counts.pickups, 0) as pickups,
        coalesce(hourly_counts.dropoffs, 0) as dropoffs
    from fleet
    cross join hours
    left join hourly_counts
        on
            fleet.station_id = hourly_counts.station_id
            and hours.hour_start = hourly_counts.hour_start
    -- in the fleet (int_fleet_stations) before the hour ends
    where fleet.joined_at < timestamp_add(hours.hour_start, interval 1 hour)

)

select
    station_id,
    hour_start,
    pickups,
    dropoffs,
    dropoffs - pickups as net_change
from labels
