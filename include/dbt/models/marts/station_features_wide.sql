{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        incremental_predicates=[late_event_merge_predicate('as_of')],
        unique_key=['system_id', 'station_id', 'as_of'],
        on_schema_change='fail',
        partition_by={'field': 'as_of', 'data_type': 'timestamp', 'granularity': 'day'},
        cluster_by=['system_id', 'station_id'],
    )
}}
{#- Every feature of every fleet station at each 15-minute as_of, one row per (station_id, as_of),
    one FLOAT64 column per entry of the catalogue (macros/feature_specs.sql), named
    <feature_name>_<window_len> (<feature_name> for static ones): what training and prediction read,
    and what station_features unpivots. Which as_ofs a run (re)builds: int_feature_run_bounds (the
    missing ones, the late-event lookback, and the as_ofs from the earliest one whose 1-hour counts
    here miss a late event); the merge on the unique key makes a re-run change nothing.
    A feature at as_of t reads only grid rows before t, i.e. events with event_at < t. Daily and
    weekly lags read the same wall-clock hour of the station's system (riders follow the local clock). A station is
    in the fleet from its first pickup (int_fleet_stations) and has a row at every as_of after it. -#}

with

quarter_hours as (

    select * from {{ ref('int_station_quarter_hours') }}

),

weekly_profiles as (

    select * from {{ ref('int_station_weekly_profiles') }}

),

bounds as (

    select * from {{ ref('int_feature_run_bounds') }}

),

stations as (

    select * from {{ ref('stations') }}

),

holidays as (

    select * from {{ ref('us_federal_holidays') }}

),

local_hours as (

    -- the hour starting at as_of's wall-clock time (its system's zone) d days earlier, once per d
    select
        *,
        {%- for x in ['pickups', 'dropoffs'] %}
        {%- set outer = loop %}
        {%- for days in local_lag_days() %}
        {{ local_hour_back(x, days) }} as local_hour_{{ x }}_{{ days }}d{{ ',' if not (outer.last and loop.last) }}
        {%- endfor %}
        {%- endfor %}
    from quarter_hours
    {{ station_time_window() }}

),

windowed as (

    select
        system_id,
        station_id,
        joined_at,
        as_of,
        {%- for window in count_windows() %}
        {{ window_count('pickups', window) }} as pickup_count_{{ window }},
        {{ window_count('dropoffs', window) }} as dropoff_count_{{ window }},
        {%- endfor %}
        {%- for x in ['pickups', 'dropoffs'] %}
        -- the hour starting at as_of's wall-clock time 1..n weeks earlier, averaged
        (
            {%- for week in range(1, same_weekday_hour_weeks() + 1) %}
            local_hour_{{ x }}_{{ 7 * week }}d{{ ' +' if not loop.last }}
            {%- endfor %}
        ) / {{ same_weekday_hour_weeks() }} as same_weekday_hour_mean_{{ x }}_{{ same_weekday_hour_weeks() }}w,
        -- that hour 1..n days earlier: the station's level at this hour of day
        (
            {%- for day in range(1, daily_same_hour_days() + 1) %}
            local_hour_{{ x }}_{{ day }}d{{ ' +' if not loop.last }}
            {%- endfor %}
        ) / {{ daily_same_hour_days() }} as daily_same_hour_mean_{{ x }}_{{ daily_same_hour_days() }}d,
        {%- endfor %}
        {{ trailing_sum('activity', 2688, 1) }} as activity_28d
    from local_hours
    {{ station_time_window() }}

),

active as (

    select
        windowed.*,
        count(*) over (partition by system_id, as_of) as active_stations,
        rank() over (partition by system_id, as_of order by activity_28d desc) as activity_rank
    from windowed
    where
        as_of >= (select start_as_of from bounds)
        and joined_at < as_of

),

holiday_days as (

    select distinct holiday_day
    from holidays
    cross join unnest([holidays.holiday_date, holidays.observed_date]) as holiday_day

),

features as (

    select
        active.*,
        {%- for window in station_count_windows() %}
        active.dropoff_count_{{ window }} - active.pickup_count_{{ window }} as net_change_{{ window }},
        {%- endfor %}
        {%- for prefix, weeks in [('same_weekday_hour_mean', same_weekday_hour_weeks() ~ 'w'), ('daily_same_hour_mean', daily_same_hour_days() ~ 'd')] %}
        active.{{ prefix }}_dropoffs_{{ weeks }} - active.{{ prefix }}_pickups_{{ weeks }} as {{ prefix }}_net_change_{{ weeks }},
        {%- endfor %}
        -- the clock hour containing as_of (for an as_of on the hour: the hour starting at it)
        {%- set profile_weeks = weekly_profile_weeks() ~ 'w' %}
        coalesce(weekly_profiles.same_weekday_hour_mean_dropoffs_{{ profile_weeks }}, 0)
        - coalesce(weekly_profiles.same_weekday_hour_mean_pickups_{{ profile_weeks }}, 0) as same_weekday_hour_mean_net_change_{{ profile_weeks }},
        coalesce(weekly_profiles.same_weekday_hour_mean_pickups_{{ profile_weeks }}, 0) as same_weekday_hour_mean_pickups_{{ profile_weeks }},
        coalesce(weekly_profiles.same_weekday_hour_mean_dropoffs_{{ profile_weeks }}, 0) as same_weekday_hour_mean_dropoffs_{{ profile_weeks }},
        -- the fleet's counts: bikes on the road now that dock within the hour
        {%- for window in system_count_windows() %}
        sum(active.pickup_count_{{ window }}) over (partition by active.system_id, active.as_of) as system_pickup_count_{{ window }},
        sum(active.dropoff_count_{{ window }}) over (partition by active.system_id, active.as_of) as system_dropoff_count_{{ window }},
        {%- endfor %}
        -- top quartile by pickups + dropoffs in the 28 days before as_of (ties share the rank)
        if(active.activity_28d > 0 and active.activity_rank <= ceil(active.active_stations / 4), 1, 0) as is_peak_station,
        coalesce(stations.capacity, 0) as capacity,
        -- calendar on the system's clock: riders follow the local clock
        extract(hour from {{ local_datetime('active.as_of', 'active.system_id') }}) as hour_of_day,
        extract(dayofweek from {{ local_date('active.as_of', 'active.system_id') }}) as day_of_week,
        if(holiday_days.holiday_day is null, 0, 1) as is_holiday
    from active
    left join weekly_profiles
        on
            active.system_id = weekly_profiles.system_id
            and active.station_id = weekly_profiles.station_id
            and timestamp_trunc(active.as_of, hour) = weekly_profiles.profile_hour
    left join stations
        on
            active.system_id = stations.system_id
            and active.station_id = stations.station_id
    left join holiday_days
        on {{ local_date('active.as_of', 'active.system_id') }} = holiday_days.holiday_day

),

final as (

    select
        system_id,
        station_id,
        as_of,
        {%- for spec in station_feature_specs() %}
        cast({{ spec.column }} as float64) as {{ spec.column }}{{ ',' if not loop.last }}
        {%- endfor %}
    from features

)

select * from final
