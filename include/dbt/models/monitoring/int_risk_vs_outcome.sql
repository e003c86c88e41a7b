{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key=['system_id', 'plan_hour', 'station_id'],
        partition_by={'field': 'plan_hour', 'data_type': 'timestamp', 'granularity': 'day'},
        cluster_by=['system_id', 'station_id'],
    )
}}
{#- What the risk said and what happened: one row per plan hour T and station of station_risk, with
    whether the station was empty (0 bikes) / full (0 free docks, or bikes >= its capacity at T) at
    some moment of [T, T+1h) and of [T, T+3h), from station_status. A report's state holds from its
    last_reported until the station's next report, so the state at T is the newest report at or before
    T (it counts: a station empty at T was empty within the hour, the risk's p = 1), then every report
    within the window. A station whose newest report before T is more than a day old has no known state
    at T and no row. The feed reached the window's end when its newest report (any station) is there:
    a row appears once [T, T+1h) is covered (and ended by as_of); the 3-hour outcomes stay null until
    [T, T+3h) is. Incremental: a run recomputes the plan hours from 48 h before the newest one it holds
    (late reports, 3-hour outcomes coming in, replans); the first build reads the whole history. -#}
{%- set recompute_hours = 48 %}
{%- set state_lookback_hours = 24 %}
{%- set newest = newest_time(this.identifier, 'plan_hour') if is_incremental() else none %}
{%- set first_plan_hour = none if newest is none else newest - modules.datetime.timedelta(hours=recompute_hours) %}

with

risk as (

    select * from {{ source('bikeshare', 'station_risk') }}
    where
        plan_hour < {{ as_of_end_literal() }}
        {%- if first_plan_hour is not none %}
        and plan_hour >= {{ timestamp_literal(first_plan_hour) }}
        {%- endif %}

),

status as (

    select * from {{ source('bikeshare', 'station_status') }}
    where
        last_reported <= {{ as_of_end_literal() }}
        {%- if first_plan_hour is not none %}
        and last_reported >= timestamp_sub({{ timestamp_literal(first_plan_hour) }}, interval {{ state_lookback_hours }} hour)
        {%- endif %}

),

coverage as (

    -- how far each system's feed is known: its newest report, not past the run's as_of
    select
        system_id,
        least({{ as_of_end_literal() }}, max(last_reported)) as known_until
    from status
    group by system_id

),

states as (

    select
        system_id,
        station_id,
        last_reported as state_start,
        lead(last_reported) over (partition by system_id, station_id order by last_reported) as next_reported,
        num_bikes_available,
        num_docks_available
    from status

),

judged as (

    -- the risk rows whose next hour has ended and is covered by the feed
    select
        risk.*,
        coverage.known_until
    from risk
    inner join coverage
        on risk.system_id = coverage.system_id
    where timestamp_add(risk.plan_hour, interval 1 hour) <= coverage.known_until

),

window_states as (

    -- each state that holds at some moment of [T, T+3h); a station's newest state holds until known_until
    select
        judged.system_id,
        judged.plan_hour,
        judged.station_id,
        states.state_start <= judged.plan_hour as holds_at_start,
        states.state_start < timestamp_add(judged.plan_hour, interval 1 hour) as within_1h,
        states.num_bikes_available = 0 as is_empty,
        coalesce(states.num_docks_available = 0, false)
        or coalesce(states.num_bikes_available >= judged.capacity, false) as is_full
    from judged
    inner join states
        on
            states.system_id = judged.system_id
            and states.station_id = judged.station_id
            and states.state_start >= timestamp_sub(judged.plan_hour, interval {{ state_lookback_hours }} hour)
            and states.state_start < timestamp_add(judged.plan_hour, interval 3 hour)
            and coalesce(states.next_reported, judged.known_until) > judged.plan_hour

),

outcomes as (

    select
        system_id,
        plan_hour,
        station_id,
        logical_or(holds_at_start) as known_at_start,
        logical_or(within_1h and is_empty) as empty_1h,
        logical_or(within_1h and is_full) as full_1h,
        logical_or(is_empty) as empty_within_3h,
        logical_or(is_full) as full_within_3h
    from window_states
    group by system_id, plan_hour, station_id

),

final as (

    select
        judged.system_id,
        judged.plan_hour,
        judged.station_id,
        judged.model_version,
        judged.service_level,
        judged.p_empty_1h,
        judged.p_full_1h,
        judged.p_empty_3h,
        judged.p_full_3h,
        outcomes.empty_1h,
        outcomes.full_1h,
        case
            when timestamp_add(judged.plan_hour, interval 3 hour) <= judged.known_until then outcomes.empty_within_3h
        end as empty_3h,
        case
            when timestamp_add(judged.plan_hour, interval 3 hour) <= judged.known_until then outcomes.full_within_3h
        end as full_3h,
        judged.known_until as status_known_until
    from judged
    inner join outcomes
        on
            judged.system_id = outcomes.system_id
            and judged.plan_hour = outcomes.plan_hour
            and judged.station_id = outcomes.station_id
    where outcomes.known_at_start

)

select * from final
