with

source as (

    select * from {{ source('bikeshare', 'raw_events') }}

),

typed as (

    select
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
    qualify row_number() over (partition by event_id order by ingested_at, event_at) = 1

)

select
    event_id,
    station_id,
    event_at,
    kind,
    delta,
    case kind when 'dropoff' then delta else -delta end as signed_delta,
    ingested_at
from deduplicated
