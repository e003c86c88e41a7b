{#- Windows over the dense (station x 15-minute) grid of int_station_features_windowed, where row t
    is the bucket [t, t + 15 min) and cum_<x> is the running total of x up to and including row t.
    Every window is a difference of two LAGs of that running total: all LAGs share one
    PARTITION/ORDER, so the engine sorts once (the framed-SUM version took one pass per frame).
    LAG and ROWS frames run alike on BigQuery and the emulator. -#}

{#- Sum of x over the rows `first`..`last` before row t (first >= last >= 1): a trailing window. -#}
{% macro trailing_sum(x, first, last) -%}
    ({{ lag_cum(x, last) }} - {{ lag_cum(x, first + 1) }})
{%- endmacro %}

{#- Sum of x over the hour (4 rows) that starts `buckets` rows before row t. -#}
{% macro hour_back(x, buckets) -%}
    ({{ lag_cum(x, buckets - 3) }} - {{ lag_cum(x, buckets + 1) }})
{%- endmacro %}

{% macro lag_cum(x, rows) -%}
    coalesce(lag(cum_{{ x }}, {{ rows }}) over (partition by station_id order by as_of), 0)
{%- endmacro %}
