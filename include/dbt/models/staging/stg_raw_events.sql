{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        partition_by={'field': 'event_at', 'data_type': 'timestamp', 'granularity': 'day'},
        cluster_by=['system_id', 'station_id'],
    )
}}
{#- One row per event (key: system_id, event_id), the earliest ingested copy, typed, with the signed delta. A table kept
    incrementally, so that no run deduplicates the whole history (each of a run's ~7 reads of a view
    would): an increment takes the raw rows ingested since the newest one here (less a margin for
    rows that become visible late) and appends the event_ids not here yet. A merge without a
    unique key appends. Both reads of an increment are bounded by a TIMESTAMP literal on the event
    time (macros/event_bounds.sql: events older than the late-event limit are refused at ingest), so
    BigQuery reads a few day partitions, not the whole history. -#}
{%- set margin_minutes = 60 %}
{%- set floor = staging_event_floor() if is_incremental() else none %}
{%- set newest_ingested_at = staging_newest_ingested_at(floor) if floor is not none else none %}

with

source as (

    select * from {{ source('bikeshare', 'raw_events') }}
    {%- if floor is not none %}
    where
        ts_iso >= {{ timestamp_literal(floor) }}
        {%- if newest_ingested_at is not none %}
        and ingested_at >= {{ timestamp_literal(newest_ingested_at - modules.datetime.timedelta(minutes=margin_minutes)) }}
        {%- endif %}
    {%- elif is_incremental() %}
    where ingested_at >= (select timestamp_sub(max(ingested_at), interval {{ margin_minutes }} minute) from {{ this }})
    {%- endif %}

),

typed as (

    select
        -- rows written before the systems table are the one system's (include/systems.py DEFAULT_SYSTEM)
        cast(coalesce(system_id, '{{ var("default_system_id") }}') as string) as system_id,
        cast(event_id as string) as event_id,
        cast(station_id as string) as station_id,
        cast(ts_iso as timestamp) as event_at,  -- the wire name ts_iso stays at the source
        lower(kind) as kind,
        cast(delta as int64) as delta,
        cast(ingested_at as timestamp) as ingested_at
    from source
    where lower(kind) in ('pickup', 'dropoff')

),

deduplicated as (

    select *
    from typed
    where true  -- older BigQuery releases accept QUALIFY only beside WHERE / GROUP BY / HAVING
    qualify row_number() over (partition by system_id, event_id order by ingested_at, event_at) = 1

),

new_events as (

    select deduplicated.*
    from deduplicated
    {%- if is_incremental() %}
    left join (
        select system_id, event_id from {{ this }}
        {%- if floor is not none %}
        where event_at >= {{ timestamp_literal(floor) }}
        {%- endif %}
    ) as seen
        on
            deduplicated.system_id = seen.system_id
            and deduplicated.event_id = seen.event_id
    where seen.event_id is null
    {%- endif %}

),

final as (

    select
        system_id,
        event_id,
        station_id,
        event_at,
        kind,
        delta,
        case kind when 'dropoff' then delta else -delta end as signed_delta,
        ingested_at
    from new_events

)

select * from final
