{#- Each fleet station's mean pickups and dropoffs at the same New York weekday and hour over the 26
    weeks before each clock hour (fewer for a station younger than that), for the hours this run's
    as_ofs fall in: one partition per station, weekday and hour, one row per week (DST needs no care
    here). Only complete hours at least 167 hours old are read. -#}

with

events as (

    select * from {{ ref('stg_raw_events') }}

),

fleet as (

    select * from {{ ref('int_fleet_stations') }}

),

bounds as (

    select * from {{ ref('int_feature_run_bounds') }}

),

profile_hours as (

    -- every clock hour a profile reads or is read for, with its New York weekday and hour of day
    select
        fleet.station_id,
        profile_hour,
        extract(dayofweek from datetime(profile_hour, 'America/New_York')) as local_weekday,
        extract(hour from datetime(profile_hour, 'America/New_York')) as local_hour
    from bounds
    cross join unnest(generate_timestamp_array(
        bounds.profile_start, timestamp_trunc(bounds.as_of_end, hour), interval 1 hour
    )) as profile_hour
    cross join fleet
    where fleet.joined_at < timestamp_add(profile_hour, interval 1 hour)

),

profile_counts as (

    {{ station_event_counts(
        'timestamp_trunc(event_at, hour)', 'profile_hour',
        '(select profile_start from bounds)', '(select as_of_end from bounds)'
    ) }}

),

weekly_profiles as (

    select
        profile_hours.station_id,
        profile_hours.profile_hour,
        {%- for x in ['pickups', 'dropoffs'] %}
        avg(coalesce(profile_counts.{{ x }}, 0)) over (
            partition by profile_hours.station_id, profile_hours.local_weekday, profile_hours.local_hour
            order by profile_hours.profile_hour
            rows between {{ weekly_profile_weeks() }} preceding and 1 preceding
        ) as same_weekday_hour_mean_{{ x }}_{{ weekly_profile_weeks() }}w{{ ',' if not loop.last }}
        {%- endfor %}
    from profile_hours
    left join profile_counts
        on
            profile_hours.station_id = profile_counts.station_id
            and profile_hours.profile_hour = profile_counts.profile_hour

)

select * from weekly_profiles
