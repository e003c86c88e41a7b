{{ config(materialized='view') }}
{#- The tall feature table: station_features_wide unpivoted, one row per station, feature, window and
    as_of (the catalogue: macros/feature_specs.sql). A view, so it cannot fall behind the wide table
    (late events, a run that stopped half-way) and costs no write: a 12-month first build would
    otherwise copy 84 M rows, more than the emulator's 10-minute job limit allows. A filter on
    as_of or station_id reaches the wide table's partitions and clusters on BigQuery. -#}

with

wide as (

    select * from {{ ref('station_features_wide') }}

),

unpivoted as (

    select
        wide.system_id,
        wide.station_id,
        feature.feature_name,
        feature.window_len,
        feature.value,
        wide.as_of
    from wide
    cross join unnest([
        {%- for spec in station_feature_specs() %}
        struct(
            '{{ spec.feature_name }}' as feature_name,
            '{{ spec.window_len }}' as window_len,
            wide.{{ spec.column }} as value
        ){{ ',' if not loop.last }}
        {%- endfor %}
    ]) as feature

)

select * from unpivoted
