{#- The dense (fleet station x 15-minute) grid the windows read, from 28 days and 2 hours before the
    first as_of this run rebuilds up to the run's as_of: pickups and dropoffs of each bucket
    [as_of, as_of + 15 min) (zeros included), their per-station running totals (cum_*) and sums over
    the hour ending with the bucket (hour_*), so that every window is a LAG or the difference of two
    (macros/windows.sql), plus the DST shifts the system's wall-clock lags need. A bounded window of
    the history, never all of it. An increment reads the events between TIMESTAMP literals (partition
    pruning on BigQuery): from 28 days and 2 hours before the earliest as_of it can rebuild
    (macros/event_bounds.sql), at or before the grid's first time; the counts before that time join
    no grid row. -#}
{%- set start_floor = feature_start_as_of_floor() %}
{%- if start_floor is not none %}
    {%- set since = timestamp_literal(start_floor - modules.datetime.timedelta(minutes=40440)) -%}
    {%- set until = as_of_end_literal() -%}
{%- else %}
    {%- set since = '(select grid_start from bounds)' -%}
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

systems as (

    select system_id from {{ ref('systems') }}

),

grid_times as (

    -- one row per system and 15-minute time: the DST shifts are the system's clock's
    select
        systems.system_id,
        grid_time as as_of,
        {%- for days in local_lag_days() %}
        {{ dst_shift('grid_time', days, 'systems.system_id') }} as dst_shift_{{ days }}d{{ ',' if not loop.last }}
        {%- endfor %}
    from bounds
    cross join unnest(generate_timestamp_array(bounds.grid_start, bounds.as_of_end, interval 15 minute)) as grid_time
    cross join systems

),

quarter_hour_counts as (

    {{ station_event_counts(floor_15_minutes('event_at'), 'bucket_start', since, until) }}

),

dense as (

    select
        fleet.system_id,
        fleet.station_id,
        fleet.joined_at,
        grid_times.as_of,
        {%- for days in local_lag_days() %}
        grid_times.dst_shift_{{ days }}d,
        {%- endfor %}
        coalesce(quarter_hour_counts.pickups, 0) as pickups,
        coalesce(quarter_hour_counts.dropoffs, 0) as dropoffs
    from fleet
    inner join grid_times
        on fleet.system_id = grid_times.system_id
    left join quarter_hour_counts
        on
            fleet.system_id = quarter_hour_counts.system_id
            and fleet.station_id = quarter_hour_counts.station_id
            and grid_times.as_of = quarter_hour_counts.bucket_start
    where fleet.joined_at < (select as_of_end from bounds)

),

running_totals as (

    select
        *,
        {%- for x, expression in [('pickups', 'pickups'), ('dropoffs', 'dropoffs'), ('activity', 'pickups + dropoffs')] %}
        sum({{ expression }}) over (partition by system_id, station_id order by as_of rows between unbounded preceding and current row)
            as cum_{{ x }},
        {%- endfor %}
        {%- for x in ['pickups', 'dropoffs'] %}
        sum({{ x }}) over (partition by system_id, station_id order by as_of rows between 3 preceding and current row)
            as hour_{{ x }}{{ ',' if not loop.last }}
        {%- endfor %}
    from dense

)

select * from running_totals
