{#- Window frames over the dense (station x 15-minute) grid of int_station_features_windowed,
    where one row is one 15-minute bucket. ROWS frames and LAG run alike on BigQuery and the emulator. -#}

{#- Sum of col over the buckets `first`..`last` rows before this one (trailing window). -#}
{% macro trailing_sum(col, first, last) -%}
    coalesce(sum({{ col }}) over (partition by station_id order by as_of rows between {{ first }} preceding and {{ last }} preceding), 0)
{%- endmacro %}

{#- The value of col `buckets` rows earlier (0 before the grid starts). -#}
{% macro hour_back(col, buckets) -%}
    coalesce(lag({{ col }}, {{ buckets }}) over (partition by station_id order by as_of), 0)
{%- endmacro %}
