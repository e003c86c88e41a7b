{#- Every station of the fleet (int_fleet_stations) that joined before time_column (+ the offset) has
    a row at that time (zeros are data, not missing rows), and no station has a row before it joined
    or without joining. Checked over the times the model holds. -#}
{% test every_active_station_present(model, time_column, activity_offset_minutes=0) %}
    with

    times as (
        select distinct {{ time_column }} as at_time from {{ model }}
    ),

    fleet as (
        select * from {{ ref('int_fleet_stations') }}
    ),

    expected as (
        select fleet.system_id, fleet.station_id, times.at_time
        from times
        cross join fleet
        where fleet.joined_at < timestamp_add(times.at_time, interval {{ activity_offset_minutes }} minute)
    ),

    actual as (
        select distinct system_id, station_id, {{ time_column }} as at_time from {{ model }}
    ),

    missing as (
        select expected.system_id, expected.station_id, expected.at_time, 'missing' as problem
        from expected
        left join actual
            on
                expected.system_id = actual.system_id
                and expected.station_id = actual.station_id
                and expected.at_time = actual.at_time
        where actual.station_id is null
    ),

    unexpected as (
        select actual.system_id, actual.station_id, actual.at_time, 'before first pickup' as problem
        from actual
        left join expected
            on
                expected.system_id = actual.system_id
                and expected.station_id = actual.station_id
                and expected.at_time = actual.at_time
        where expected.station_id is null
    )

    select * from missing
    union all
    select * from unexpected
{% endtest %}
