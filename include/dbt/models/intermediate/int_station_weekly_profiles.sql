{#- Each fleet station's mean pickups and dropoffs at the same weekday and hour of its system's clock over the 26
    weeks before each clock hour (fewer for a station younger than that), for the hours this run's
    as_ofs fall in: one partition per station, weekday and hour, one row per week (DST needs no care
    here). Only complete hours at least 167 hours old are read. An increment reads the events between
    TIMESTAMP literals (partition pruning on BigQuery): from the profile's first hour for the earliest
    as_of it can rebuild (macros/event_bounds.sql), at or before bounds.profile_start; the counts of
    the hours before that join no profile hour. -#}
{%- set start_floor = feature_start_as_of_floor() %}
{%- if start_floor is not none %}
    {%- set since = timestamp_literal(
        floor_minutes(start_floor, 60) - modules.datetime.timedelta(hours=168 * weekly_profile_weeks() + 1)
    ) -%}
    {%- set until = as_of_end_literal() -%}
{%- else %}
    {%- set since = '(select profile_start from bounds)' -%}
    {%- set until = '(select as_of_end from bounds)' -%}
{%- endif %}

with

events as (

    select * from {{ ref('stg_raw_events') }}
    {%- if start_floor is not none %}
    where
        event_at >= {{ since }}
        and event_at < {{ until }}
    {%- endif %}

),

fleet as (

    select * from {{ ref('int_fleet_stations') }}

),

bounds as (

    select * from {{ ref('int_feature_run_bounds') }}

),

profile_hours as (

    -- every clock hour a profile reads or is read for, with its weekday and hour of day on the system's clock
    select
        fleet.system_id,
        fleet.station_id,
        profile_hour,
        extract(dayofweek from {{ local_datetime('profile_hour', 'fleet.system_id') }}) as local_weekday,
        extract(hour from {{ local_datetime('profile_hour', 'fleet.system_id') }}) as local_hour
    from bounds
    cross join unnest(generate_timestamp_array(
        bounds.profile_start, timestamp_trunc(bounds.as_of_end, hour), interval 1 hour
    )) as profile_hour
    cross join fleet
    where fleet.joined_at < timestamp_add(profile_hour, interval 1 hour)

),

profile_counts as (

    {{ station_event_counts('timestamp_trunc(event_at, hour)', 'profile_hour', since, until) }}

),

weekly_profiles as (

    select
        profile_hours.system_id,
        profile_hours.station_id,
        profile_hours.profile_hour,
        {%- for x in ['pickups', 'dropoffs'] %}
        avg(coalesce(profile_counts.{{ x }}, 0)) over (
            partition by profile_hours.system_id, profile_hours.station_id, profile_hours.local_weekday, profile_hours.local_hour
            order by profile_hours.profile_hour
            rows between {{ weekly_profile_weeks() }} preceding and 1 preceding
        ) as same_weekday_hour_mean_{{ x }}_{{ weekly_profile_weeks() }}w{{ ',' if not loop.last }}
        {%- endfor %}
    from profile_hours
    left join profile_counts
        on
            profile_hours.system_id = profile_counts.system_id
            and profile_hours.station_id = profile_counts.station_id
            and profile_hours.profile_hour = profile_counts.profile_hour

)

select * from weekly_profiles
