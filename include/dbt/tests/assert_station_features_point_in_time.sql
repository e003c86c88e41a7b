{#- Point in time: recount the trailing-window counts of the last day of as_ofs straight from the
    events with event_at in [as_of - window, as_of) and compare, for every trailing window of the
    station counts in the catalogue (macros/feature_specs.sql). An event at or after as_of, or one
    outside the window, makes the counts differ. Events that arrived late (up to
    late_event_limit_minutes) are reconciled by the run (macros/late_events.sql), so the check is
    exact for a table built from the same events. -#}
{{ config(severity='error') }}
{%- set windows = station_trailing_window_minutes() %}
{#- A run (var as_of) checks the day before its as_of, reading events of that day and the longest
    window before it, between TIMESTAMP literals; without as_of (the full audit), the last day held. -#}
{%- set as_of_given = var('as_of', none) not in (none, '') %}

with

events as (

    select *
    from {{ ref('stg_raw_events') }}
    {%- if as_of_given %}
    where
        event_at >= timestamp_sub({{ as_of_end_literal() }}, interval {{ 1440 + windows.values() | max }} minute)
        and event_at < {{ as_of_end_literal() }}
    {%- endif %}

),

recent_features as (

    select *
    from {{ ref('station_features') }}
    where
        feature_name in ('pickup_count', 'dropoff_count')
        and window_len in ('{{ windows.keys() | join("', '") }}')
        {%- if as_of_given %}
        and as_of >= timestamp_sub({{ as_of_end_literal() }}, interval 1 day)
        and as_of <= {{ as_of_end_literal() }}
        {%- else %}
        and as_of >= (select timestamp_sub(max(as_of), interval 1 day) from {{ ref('station_features') }})
        {%- endif %}

),

windows as (

    select
        *,
        case window_len
            {%- for window, minutes in windows.items() %}
            when '{{ window }}' then {{ minutes }}
            {%- endfor %}
        end as window_minutes
    from recent_features

),

recounted as (

    select
        windows.system_id,
        windows.station_id,
        windows.feature_name,
        windows.window_len,
        windows.as_of,
        windows.value,
        coalesce(sum(events.delta), 0) as events_in_window
    from windows
    left join events
        on
            windows.system_id = events.system_id
            and windows.station_id = events.station_id
            and events.kind = if(windows.feature_name = 'pickup_count', 'pickup', 'dropoff')
            and events.event_at >= timestamp_sub(windows.as_of, interval windows.window_minutes minute)
            and events.event_at < windows.as_of
    group by 1, 2, 3, 4, 5, 6

)

select *
from recounted
where value != events_in_window
