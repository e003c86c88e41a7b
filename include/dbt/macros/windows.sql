{#- Windows over the dense (station x 15-minute) grid of int_station_quarter_hours, where row t
    is the bucket [t, t + 15 min), cum_<x> is the running total of x up to and including row t and
    hour_<x> the sum of x over the hour ending with row t (rows t-3..t). Every window is a LAG of
    one of them (a trailing window: the difference of two), all in the named window `station_time`
    (partition by system_id, station_id order by as_of), which the selecting query must define: the engine
    sorts once, and the SQL stays short (the emulator's cost grows with the query's length).
    LAG runs alike on BigQuery and the emulator. -#}

{#- Sum of x over the rows `first`..`last` before row t (first >= last >= 1): a trailing window. -#}
{% macro trailing_sum(x, first, last) -%}
    ({{ lag_of('cum_' ~ x, last) }} - {{ lag_of('cum_' ~ x, first + 1) }})
{%- endmacro %}

{#- Sum of x over the hour (4 rows) that starts `buckets` rows before row t (buckets >= 4): the
    hour ending with row t - buckets + 3. -#}
{% macro hour_back(x, buckets) -%}
    {{ lag_of('hour_' ~ x, buckets - 3) }}
{%- endmacro %}

{#- Sum of x over the window `window` of the catalogue (macros/feature_specs.sql) before row t; the
    local (the system's wall-clock) windows read the local_hour_<x>_<d>d columns of the wide model. -#}
{% macro window_count(x, window) -%}
    {%- set spec = feature_windows()[window] -%}
    {%- if spec.trailing_rows -%}
        {{ trailing_sum(x, spec.trailing_rows, 1) }}
    {%- elif spec.hour_back_rows -%}
        {{ hour_back(x, spec.hour_back_rows) }}
    {%- elif spec.local_days -%}
        local_hour_{{ x }}_{{ spec.local_days }}d
    {%- else -%}
        {{ exceptions.raise_compiler_error('window ' ~ window ~ ' has no grid reading in feature_windows()') }}
    {%- endif -%}
{%- endmacro %}

{% macro lag_of(column, rows) -%}
    coalesce(lag({{ column }}, {{ rows }}) over station_time, 0)
{%- endmacro %}

{#- The named window every LAG above uses. -#}
{% macro station_time_window() -%}
    window station_time as (partition by system_id, station_id order by as_of)
{%- endmacro %}

{#- Hours the row's system's UTC offset at ts is ahead of the one `days` days earlier: 1 after the
    spring change, -1 after the autumn one, 0 otherwise and always in a zone without DST (an hour's
    error only at 1-3 a.m. on the change). The zones: macros/local_time.sql. -#}
{% macro dst_shift(ts, days, system_column='system_id') -%}
    ({{ utc_offset_hours(ts, system_column) }} - {{ utc_offset_hours('timestamp_sub(' ~ ts ~ ', interval ' ~ 24 * days ~ ' hour)', system_column) }})
{%- endmacro %}

{#- Sum of x over the hour that starts at row t's system's wall-clock time `days` days earlier:
    96 rows a day, 4 fewer (more) when a DST change in between made the day 23 (25) hours long.
    Needs the dst_shift_<days>d column (int_station_quarter_hours). The wide model computes it once
    per day back, as local_hour_<x>_<days>d. -#}
{% macro local_hour_back(x, days) -%}
    case dst_shift_{{ days }}d
        when 1 then {{ hour_back(x, 96 * days - 4) }}
        when -1 then {{ hour_back(x, 96 * days + 4) }}
        else {{ hour_back(x, 96 * days) }}
    end
{%- endmacro %}

{#- Pickups and dropoffs of each station per time bucket (`bucket`: a SQL expression of event_at,
    named `bucket_name`), for events with `since` <= event_at < `until` (SQL expressions). Quiet
    buckets have no row: the models join these counts onto a dense grid. -#}
{% macro station_event_counts(bucket, bucket_name, since, until) -%}
    select
        system_id,
        station_id,
        {{ bucket }} as {{ bucket_name }},
        sum(if(kind = 'pickup', delta, 0)) as pickups,
        sum(if(kind = 'dropoff', delta, 0)) as dropoffs
    from events
    where
        event_at >= {{ since }}
        and event_at < {{ until }}
    group by 1, 2, 3
{%- endmacro %}
