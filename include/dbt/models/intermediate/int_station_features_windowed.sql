{#-
    Every feature of every active station for each 15-minute as_of this run must (re)build, one row
    per (station_id, as_of), one column per feature.

    How: 15-minute event counts on a dense (station x 15-minute) grid that starts 28 days and an hour
    before the first as_of, with per-station running totals; every window is the difference of two
    LAGs of a running total (macros/windows.sql). Row t holds the bucket
    [t, t+15m); a feature at as_of t reads only rows before t, i.e. events with ts_iso < t.
    Daily and weekly lags read the same New York wall-clock hour (riders follow the local clock), so
    across a DST change their UTC lag is an hour shorter or longer (dst_shift_<n>d, macros/windows.sql).
    A station joins with its first pickup: one that only ever receives bikes (the Manhattan ends of
    Jersey City trips) is not part of the fleet, and its net change would count only one side.
    The 15-minute grid spans only the rebuilt as_ofs plus 28 days, and the hourly grid of the 26-week
    profiles 26 weeks more: an increment's query reads a bounded window, never the whole history
    (writes on the emulator do not: see include/dbt/README.md).
    Which as_ofs: a first build from first_as_of; an increment from the earliest of the first missing
    as_of, the late-event lookback and the earliest as_of whose stored 1-hour counts miss a late event
    (macros/late_events.sql: a recount of the reconcile window while this model compiles), up to the
    var as_of. Without late data the increment stays the missing as_ofs plus the lookback.
-#}
{%- set lookback = var('late_event_lookback_minutes') | int -%}
{%- set existing_max = existing_station_features_max_as_of() -%}
{%- set late_start = late_event_start_as_of() -%}
{%- set start_var = var('features_start', none) -%}

with

events as (

    select * from {{ ref('stg_raw_events') }}

),

stations as (

    select * from {{ ref('stations') }}

),

holidays as (

    select * from {{ ref('us_federal_holidays') }}

),

params as (

    select
        {{ as_of_end_literal() }} as as_of_end,
        {{ existing_max }} as existing_max_as_of,
        {{ late_start }} as late_event_as_of,
        {%- if start_var %}
        {{ floor_15_minutes_literal(start_var) }} as first_as_of
        {%- else %}
        (
            select timestamp_add({{ floor_15_minutes('min(ts_iso)') }}, interval 15 minute)
            from events
            where ts_iso < {{ as_of_end_literal() }}
        ) as first_as_of
        {%- endif %}

),

bounds as (

    -- a first build starts at first_as_of; an increment at the first missing as_of, or earlier to
    -- recompute the late-event lookback or the as_ofs a late event outside it should have changed
    select
        as_of_end,
        case
            when existing_max_as_of is null then first_as_of
            else least(
                timestamp_add(existing_max_as_of, interval 15 minute),
                timestamp_sub(as_of_end, interval {{ lookback }} minute),
                coalesce(late_event_as_of, as_of_end)
            )
        end as start_as_of
    from params

),

grid_bounds as (

    select
        as_of_end,
        start_as_of,
        timestamp_sub(start_as_of, interval 40440 minute) as grid_start  -- 28 days + 2 hours of 15-minute rows
    from bounds

),

grid_times as (

    select
        grid_time as as_of,
        {%- for days in local_lag_days() %}
        {{ dst_shift('grid_time', days) }} as dst_shift_{{ days }}d{{ ',' if not loop.last }}
        {%- endfor %}
    from grid_bounds
    cross join unnest(generate_timestamp_array(grid_bounds.grid_start, grid_bounds.as_of_end, interval 15 minute)) as grid_time

),

first_seen as (

    select
        station_id,
        min(ts_iso) as first_event_at  -- the station's first pickup
    from events
    where
        ts_iso < (select as_of_end from grid_bounds)
        and kind = 'pickup'
    group by station_id

),

quarter_hour_counts as (

    {{ station_event_counts(
        floor_15_minutes('ts_iso'), 'bucket_start',
        '(select grid_start from grid_bounds)', '(select as_of_end from grid_bounds)'
    ) }}

),

dense as (

    select
        first_seen.station_id,
        first_seen.first_event_at,
        grid_times.*,
        coalesce(quarter_hour_counts.pickups, 0) as pickups,
        coalesce(quarter_hour_counts.dropoffs, 0) as dropoffs
    from first_seen
    cross join grid_times
    left join quarter_hour_counts
        on
            first_seen.station_id = quarter_hour_counts.station_id
            and grid_times.as_of = quarter_hour_counts.bucket_start

),

profile_hours as (

    -- every clock hour a weekly profile reads or is read for: 26 weeks and an hour before the
    -- first rebuilt as_of's hour up to the last one's, New York weekday and hour of day of each
    select
        first_seen.station_id,
        profile_hour,
        extract(dayofweek from datetime(profile_hour, 'America/New_York')) as local_weekday,
        extract(hour from datetime(profile_hour, 'America/New_York')) as local_hour
    from grid_bounds
    cross join unnest(generate_timestamp_array(
        timestamp_sub(timestamp_trunc(grid_bounds.start_as_of, hour), interval 4369 hour),
        timestamp_trunc(grid_bounds.as_of_end, hour),
        interval 1 hour
    )) as profile_hour
    cross join first_seen
    where first_seen.first_event_at < timestamp_add(profile_hour, interval 1 hour)

),

profile_counts as (

    {{ station_event_counts(
        'timestamp_trunc(ts_iso, hour)', 'profile_hour',
        'timestamp_sub(timestamp_trunc((select start_as_of from grid_bounds), hour), interval 4369 hour)',
        '(select as_of_end from grid_bounds)'
    ) }}

),

weekly_profiles as (

    -- mean of the same New York weekday and hour over the 26 weeks before each hour (fewer for a
    -- station younger than that): one partition per station, weekday and hour, one row per week
    -- (DST needs no care here). Only complete hours at least 167 hours old are read.
    select
        profile_hours.station_id,
        profile_hours.profile_hour,
        {%- for x in ['pickups', 'dropoffs'] %}
        avg(coalesce(profile_counts.{{ x }}, 0)) over (
            partition by profile_hours.station_id, profile_hours.local_weekday, profile_hours.local_hour
            order by profile_hours.profile_hour
            rows between 26 preceding and 1 preceding
        ) as same_weekday_hour_mean_{{ x }}_26w{{ ',' if not loop.last }}
        {%- endfor %}
    from profile_hours
    left join profile_counts
        on
            profile_hours.station_id = profile_counts.station_id
            and profile_hours.profile_hour = profile_counts.profile_hour

),

running_totals as (

    select
        *,
        sum(pickups) over (partition by station_id order by as_of rows between unbounded preceding and current row)
            as cum_pickups,
        sum(dropoffs) over (partition by station_id order by as_of rows between unbounded preceding and current row)
            as cum_dropoffs,
        sum(pickups + dropoffs) over (partition by station_id order by as_of rows between unbounded preceding and current row)
            as cum_activity
    from dense

),

windowed as (

    select
        station_id,
        first_event_at,
        as_of,
        {%- for name, rows in [('15m', 1), ('30m', 2), ('1h', 4), ('2h', 8), ('24h', 96), ('7d', 672)] %}
        {{ trailing_sum('pickups', rows, 1) }} as pickup_count_{{ name }},
        {{ trailing_sum('dropoffs', rows, 1) }} as dropoff_count_{{ name }},
        {%- endfor %}
        {%- for name, rows in [('lag2h', 8), ('lag3h', 12)] %}
        {{ hour_back('pickups', rows) }} as pickup_count_{{ name }},
        {{ hour_back('dropoffs', rows) }} as dropoff_count_{{ name }},
        {%- endfor %}
        -- the hour starting at as_of's New York wall-clock time one day / one week earlier
        {%- for name, days in [('lag24h', 1), ('lag168h', 7)] %}
        {{ local_hour_back('pickups', days) }} as pickup_count_{{ name }},
        {{ local_hour_back('dropoffs', days) }} as dropoff_count_{{ name }},
        {%- endfor %}
        {%- for x in ['pickups', 'dropoffs'] %}
        -- that hour 1..4 weeks earlier
        (
            {%- for week in range(1, 5) %}
            {{ local_hour_back(x, 7 * week) }}{{ ' +' if not loop.last }}
            {%- endfor %}
        ) / 4 as same_weekday_hour_mean_{{ x }}_4w,
        -- that hour 1..7 days earlier: the station's level at this hour of day
        (
            {%- for day in range(1, 8) %}
            {{ local_hour_back(x, day) }}{{ ' +' if not loop.last }}
            {%- endfor %}
        ) / 7 as daily_same_hour_mean_{{ x }}_7d,
        {%- endfor %}
        {{ trailing_sum('activity', 2688, 1) }} as activity_28d
    from running_totals

),

active as (

    select
        windowed.*,
        count(*) over (partition by as_of) as active_stations,
        rank() over (partition by as_of order by activity_28d desc) as activity_rank
    from windowed
    where
        as_of >= (select start_as_of from grid_bounds)
        and first_event_at < as_of

),

features as (

    select
        active.station_id,
        active.as_of,
        {%- for window in ['1h', '2h', '24h', '7d', 'lag2h', 'lag3h', 'lag24h', 'lag168h'] %}
        active.pickup_count_{{ window }},
        active.dropoff_count_{{ window }},
        active.dropoff_count_{{ window }} - active.pickup_count_{{ window }} as net_change_{{ window }},
        {%- endfor %}
        active.same_weekday_hour_mean_dropoffs_4w - active.same_weekday_hour_mean_pickups_4w
            as same_weekday_hour_mean_net_change_4w,
        active.same_weekday_hour_mean_pickups_4w,
        active.same_weekday_hour_mean_dropoffs_4w,
        active.daily_same_hour_mean_dropoffs_7d - active.daily_same_hour_mean_pickups_7d
            as daily_same_hour_mean_net_change_7d,
        active.daily_same_hour_mean_pickups_7d,
        active.daily_same_hour_mean_dropoffs_7d,
        -- the clock hour containing as_of (for an as_of on the hour: the hour starting at it)
        coalesce(weekly_profiles.same_weekday_hour_mean_dropoffs_26w, 0)
        - coalesce(weekly_profiles.same_weekday_hour_mean_pickups_26w, 0) as same_weekday_hour_mean_net_change_26w,
        coalesce(weekly_profiles.same_weekday_hour_mean_pickups_26w, 0) as same_weekday_hour_mean_pickups_26w,
        coalesce(weekly_profiles.same_weekday_hour_mean_dropoffs_26w, 0) as same_weekday_hour_mean_dropoffs_26w,
        -- the fleet's last 15 / 30 minutes: bikes on the road now that dock within the hour
        {%- for window in ['15m', '30m', '1h', '24h'] %}
        sum(active.pickup_count_{{ window }}) over (partition by active.as_of) as system_pickup_count_{{ window }},
        sum(active.dropoff_count_{{ window }}) over (partition by active.as_of) as system_dropoff_count_{{ window }},
        {%- endfor %}
        -- top quartile by pickups + dropoffs in the 28 days before as_of (ties share the rank)
        if(active.activity_28d > 0 and active.activity_rank <= ceil(active.active_stations / 4), 1, 0) as is_peak_station,
        coalesce(stations.capacity, 0) as capacity,
        -- calendar in New York local time: riders follow the local clock
        extract(hour from datetime(active.as_of, 'America/New_York')) as hour_of_day,
        extract(dayofweek from date(active.as_of, 'America/New_York')) as day_of_week,
        if(holidays.holiday_day is null, 0, 1) as is_holiday
    from active
    left join weekly_profiles
        on
            active.station_id = weekly_profiles.station_id
            and timestamp_trunc(active.as_of, hour) = weekly_profiles.profile_hour
    left join stations
        on active.station_id = stations.station_id
    left join (
        select distinct holiday_day
        from holidays
        cross join unnest([holidays.holiday_date, holidays.observed_date]) as holiday_day
    ) as holidays
        on date(active.as_of, 'America/New_York') = holidays.holiday_day

)

select
    station_id,
    as_of,
    {%- for spec in station_feature_specs() %}
    cast({{ spec.column }} as float64) as {{ spec.column }}{{ ',' if not loop.last }}
    {%- endfor %}
from features
