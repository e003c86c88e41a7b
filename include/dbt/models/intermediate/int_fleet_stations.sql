{{ config(materialized='view') }}
{#- The fleet: every station with a pickup, and when it joined (its first pickup). The one definition
    the features, the labels, the late-event check and the tests read. A station that only ever
    receives bikes (the Manhattan ends of Jersey City trips) is not rebalanced here and would show
    one side of its net change, so it is not in the fleet. A view, not ephemeral: the late-event
    check (macros/late_events.sql) queries it while a mart compiles. -#}

with

events as (

    select * from {{ ref('stg_raw_events') }}

),

first_pickups as (

    select
        station_id,
        min(event_at) as joined_at
    from events
    where kind = 'pickup'
    group by station_id

)

select * from first_pickups
