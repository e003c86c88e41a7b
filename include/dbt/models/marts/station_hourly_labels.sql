{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        incremental_predicates=[late_event_merge_predicate('hour_start', truncate_to_hour=true)],
        unique_key=['system_id', 'station_id', 'hour_start'],
        partition_by={'field': 'hour_start', 'data_type': 'timestamp', 'granularity': 'day'},
        cluster_by=['system_id', 'station_id'],
    )
}}
{#- What the model predicts: pickups, dropoffs and net change of each active station in each
    complete hour [hour_start, hour_start + 1h) before the run's as_of (zeros included). An increment
    builds the missing hours, recomputes the late-event lookback and, like station_features, every
    hour from the earliest one whose stored counts miss a late event (macros/late_events.sql); the
    first hour it rebuilds is a TIMESTAMP literal, which bounds its read of the events (partition
    pruning on BigQuery). -#}
{%- set lookback = var('late_event_lookback_minutes') | int -%}
{#- the last complete hour ends at or before the run's as_of -#}
{%- set hours_end = floor_minutes(as_of_end_datetime(), 60) -%}
{%- set existing_max = newest_time(this.identifier, 'hour_start') if is_incremental() else none %}
{%- if existing_max is not none %}
    {%- set late_event_hour = late_event_start_hour() -%}
    {%- set start_hour = [
        existing_max + modules.datetime.timedelta(hours=1),
        floor_minutes(hours_end - modules.datetime.timedelta(minutes=lookback), 60),
        hours_end if late_event_hour is none else late_event_hour,
    ] | min -%}
{%- else %}
    {%- set start_hour = none -%}
{%- endif %}

with

events as (

    select * from {{ ref('stg_raw_events') }}
    {%- if start_hour is not none %}
    where
        event_at >= {{ timestamp_literal(start_hour) }}
        and event_at < {{ timestamp_literal(hours_end) }}
    {%- endif %}

),

fleet as (

    select * from {{ ref('int_fleet_stations') }}

),

bounds as (

    select
        {{ timestamp_literal(hours_end) }} as hours_end,
        {%- if start_hour is not none %}
        -- an increment: the earliest of the first missing hour, the lookback's and the late events' first
        {{ timestamp_literal(start_hour) }} as start_hour
        {%- else %}
        -- a first build reads the whole history
        (select timestamp_trunc(min(event_at), hour) from events) as start_hour
        {%- endif %}

),

hours as (

    select hour_start
    from bounds
    cross join unnest(generate_timestamp_array(bounds.start_hour, timestamp_sub(bounds.hours_end, interval 1 hour), interval 1 hour)) as hour_start

),

hourly_counts as (

    {%- if start_hour is not none %}
    {{ station_event_counts(
        'timestamp_trunc(event_at, hour)', 'hour_start', timestamp_literal(start_hour), timestamp_literal(hours_end)
    ) }}
    {%- else %}
    {{ station_event_counts(
        'timestamp_trunc(event_at, hour)', 'hour_start', '(select start_hour from bounds)', '(select hours_end from bounds)'
    ) }}
    {%- endif %}

),

labels as (

    select
        fleet.system_id,
        fleet.station_id,
        hours.hour_start,
        coalesce(hourly_counts.pickups, 0) as pickups,
        coalesce(hourly_counts.dropoffs, 0) as dropoffs
    from fleet
    cross join hours
    left join hourly_counts
        on
            fleet.system_id = hourly_counts.system_id
            and fleet.station_id = hourly_counts.station_id
            and hours.hour_start = hourly_counts.hour_start
    -- in the fleet (int_fleet_stations) before the hour ends
    where fleet.joined_at < timestamp_add(hours.hour_start, interval 1 hour)

)

select
    system_id,
    station_id,
    hour_start,
    pickups,
    dropoffs,
    dropoffs - pickups as net_change
from labels
