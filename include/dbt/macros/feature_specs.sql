{#- The feature catalogue, in one place: which windows exist, how each reads the 15-minute grid, and
    the (feature_name, window_len) pairs of station_features with the column each gets in
    station_features_wide. The wide model's window columns, the unpivot into the tall table, the
    catalogue tests (every_feature_present, in_feature_catalogue) and the point-in-time test are all
    generated from these macros; nothing else lists a window. -#}

{#- How each window_len of a count reads the grid (row t = the bucket [t, t + 15 min)):
    trailing_rows n: the n buckets before t, i.e. [t - 15n min, t);
    hour_back_rows n: the hour that starts n buckets before t;
    local_days d: the hour that starts at t's New York wall-clock time d days earlier (DST aware). -#}
{% macro feature_windows() %}
    {{- return({
        '15m': {'trailing_rows': 1},
        '30m': {'trailing_rows': 2},
        '1h': {'trailing_rows': 4},
        '2h': {'trailing_rows': 8},
        '24h': {'trailing_rows': 96},
        '7d': {'trailing_rows': 672},
        'lag2h': {'hour_back_rows': 8},
        'lag3h': {'hour_back_rows': 12},
        'lag24h': {'local_days': 1},
        'lag168h': {'local_days': 7},
    }) -}}
{% endmacro %}

{#- Windows of each station's pickup_count / dropoff_count / net_change. -#}
{% macro station_count_windows() %}
    {{- return(['1h', '2h', '24h', '7d', 'lag2h', 'lag3h', 'lag24h', 'lag168h']) -}}
{% endmacro %}

{#- Windows of the fleet's system_pickup_count / system_dropoff_count (bikes on the road now). -#}
{% macro system_count_windows() %}
    {{- return(['15m', '30m', '1h', '24h']) -}}
{% endmacro %}

{#- Same New York weekday and hour, 1..weeks weeks back (window_len '<weeks>w'), and same hour,
    1..days days back (daily_same_hour_mean_*, window_len '<days>d'). -#}
{% macro same_weekday_hour_weeks() %}{{ return(4) }}{% endmacro %}
{% macro daily_same_hour_days() %}{{ return(7) }}{% endmacro %}
{#- The 26-week same-weekday-hour profile (int_station_weekly_profiles). -#}
{% macro weekly_profile_weeks() %}{{ return(26) }}{% endmacro %}

{#- Every window the wide model computes a pickup / dropoff count for (station and system windows). -#}
{% macro count_windows() %}
    {%- set windows = [] -%}
    {%- for window in station_count_windows() + system_count_windows() -%}
        {%- if window not in windows -%}{%- do windows.append(window) -%}{%- endif -%}
    {%- endfor -%}
    {{- return(windows) -}}
{% endmacro %}

{#- The days back the wide model reads at the same New York wall-clock hour: the local lags, the
    daily means and the weekly means (each needs a dst_shift_<d>d column on the grid). -#}
{% macro local_lag_days() %}
    {%- set days = [] -%}
    {%- for window in count_windows() if feature_windows()[window].local_days -%}
        {%- do days.append(feature_windows()[window].local_days) -%}
    {%- endfor -%}
    {%- for day in range(1, daily_same_hour_days() + 1) -%}{%- do days.append(day) -%}{%- endfor -%}
    {%- for week in range(1, same_weekday_hour_weeks() + 1) -%}{%- do days.append(7 * week) -%}{%- endfor -%}
    {{- return(days | unique | sort) -}}
{% endmacro %}

{#- The trailing windows of the station counts with their length in minutes (point-in-time test). -#}
{% macro station_trailing_window_minutes() %}
    {%- set out = {} -%}
    {%- for window in station_count_windows() if feature_windows()[window].trailing_rows -%}
        {%- do out.update({window: 15 * feature_windows()[window].trailing_rows}) -%}
    {%- endfor -%}
    {{- return(out) -}}
{% endmacro %}

{#- One entry per (feature_name, window_len) of station_features, with its column in
    station_features_wide (<feature_name>_<window_len>, or <feature_name> for static ones). -#}
{% macro station_feature_specs() %}
    {%- set specs = [] -%}
    {%- for feature in ['pickup_count', 'dropoff_count', 'net_change'] -%}
        {%- for window in station_count_windows() -%}
            {%- do specs.append({'feature_name': feature, 'window_len': window, 'column': feature ~ '_' ~ window}) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- for window in [same_weekday_hour_weeks() ~ 'w', weekly_profile_weeks() ~ 'w'] -%}
        {%- for feature in ['same_weekday_hour_mean_net_change', 'same_weekday_hour_mean_pickups', 'same_weekday_hour_mean_dropoffs'] -%}
            {%- do specs.append({'feature_name': feature, 'window_len': window, 'column': feature ~ '_' ~ window}) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- for feature in ['daily_same_hour_mean_net_change', 'daily_same_hour_mean_pickups', 'daily_same_hour_mean_dropoffs'] -%}
        {%- do specs.append({'feature_name': feature, 'window_len': daily_same_hour_days() ~ 'd', 'column': feature ~ '_' ~ daily_same_hour_days() ~ 'd'}) -%}
    {%- endfor -%}
    {%- for feature in ['system_pickup_count', 'system_dropoff_count'] -%}
        {%- for window in system_count_windows() -%}
            {%- do specs.append({'feature_name': feature, 'window_len': window, 'column': feature ~ '_' ~ window}) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- for feature in ['is_peak_station', 'capacity', 'hour_of_day', 'day_of_week', 'is_holiday'] -%}
        {%- do specs.append({'feature_name': feature, 'window_len': 'static', 'column': feature}) -%}
    {%- endfor -%}
    {{- return(specs) -}}
{% endmacro %}

{#- The catalogue as SQL rows (feature_name, window_len), for the tests that compare a table with it. -#}
{% macro station_feature_catalogue_sql() %}
    {%- for spec in station_feature_specs() %}
    select '{{ spec.feature_name }}' as feature_name, '{{ spec.window_len }}' as window_len
    {{- ' union all' if not loop.last }}
    {%- endfor %}
{% endmacro %}
