{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key=['system_id', 'station_id'],
    )
}}
{#- The fleet: every station with a pickup, and when it joined (its first pickup). The one definition
    the features, the labels, the late-event check and the tests read. A station that only ever
    receives bikes (the Manhattan ends of Jersey City trips) is not rebalanced here and would show
    one side of its net change, so it is not in the fleet.

    A table, kept incrementally so that no run reads the whole history: an increment looks at the
    pickups since the merge floor (the oldest time a run may rewrite, macros/late_events.sql: as far
    as late events are reconciled) and keeps each station's earliest pickup, so a late first pickup
    moves joined_at back. Like the marts, a history load behind what is built needs a full refresh. -#}

with

events as (

    select * from {{ ref('stg_raw_events') }}
    where
        kind = 'pickup'
        {%- if is_incremental() %}
        and event_at >= {{ timestamp_literal(late_event_merge_floor()) }}
        {%- endif %}

),

first_pickups as (

    select
        system_id,
        station_id,
        min(event_at) as joined_at
    from events
    group by system_id, station_id

),

final as (

    {%- if is_incremental() %}
    select
        first_pickups.system_id,
        first_pickups.station_id,
        least(first_pickups.joined_at, coalesce(fleet.joined_at, first_pickups.joined_at)) as joined_at
    from first_pickups
    left join {{ this }} as fleet
        on
            first_pickups.system_id = fleet.system_id
            and first_pickups.station_id = fleet.station_id
    {%- else %}
    select * from first_pickups
    {%- endif %}

)

select * from final
