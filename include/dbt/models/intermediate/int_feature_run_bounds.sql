{#- The as_ofs this run (re)builds, one row: [start_as_of, as_of_end] on the 15-minute grid, and the
    first grid time (28 days + 2 hours of 15-minute rows before start_as_of) and profile hour (26 weeks
    and an hour before start_as_of's hour) the windows read. Decided against station_features_wide,
    the first mart built from the intermediates:
    a first build from features_start, or 15 minutes after the first event; an increment from the
    earliest of the first missing as_of, the late-event lookback and the earliest as_of whose stored
    1-hour counts miss a late event (macros/late_events.sql: a recount of the reconcile window while
    this model compiles, once per dbt invocation), up to the var as_of. -#}
/* depends_on: {{ ref('int_fleet_stations') }}, {{ ref('stg_raw_events') }} (queried by the late-event check) */
{%- set lookback = var('late_event_lookback_minutes') | int -%}
{%- set start_var = var('features_start', none) -%}
{%- set existing_max = newest_time('station_features_wide', 'as_of') -%}
{#- only a first build without features_start reads the events (their first time) -#}
{%- set reads_history = existing_max is none and not start_var %}

with

{%- if reads_history %}

events as (

    select * from {{ ref('stg_raw_events') }}

),
{%- endif %}

params as (

    select
        {{ as_of_end_literal() }} as as_of_end,
        {{ timestamp_literal(existing_max) }} as existing_max_as_of,
        {{ late_event_start_as_of_wide() }} as late_event_as_of,
        {%- if existing_max is not none %}
        cast(null as timestamp) as first_as_of  -- an increment: only a first build reads the whole history
        {%- elif not reads_history %}
        {{ floor_15_minutes_literal(start_var) }} as first_as_of
        {%- else %}
        (
            select timestamp_add({{ floor_15_minutes('min(event_at)') }}, interval 15 minute)
            from events
            where event_at < {{ as_of_end_literal() }}
        ) as first_as_of
        {%- endif %}

),

bounds as (

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

final as (

    select
        as_of_end,
        start_as_of,
        timestamp_sub(start_as_of, interval 40440 minute) as grid_start,  -- 28 days + 2 hours of 15-minute rows
        timestamp_sub(
            timestamp_trunc(start_as_of, hour), interval {{ 168 * weekly_profile_weeks() + 1 }} hour
        ) as profile_start
    from bounds

)

select * from final
