{#- The feature catalogue: one entry per (feature_name, window_len) of station_features, with the
    column it gets in int_station_features_windowed and station_features_wide. The single list that
    the unpivot, the pivot and the completeness test share. -#}
{% macro station_feature_specs() %}
    {%- set specs = [] -%}
    {%- for feature in ['pickup_count', 'dropoff_count', 'net_change'] -%}
        {%- for window in ['1h', '2h', '24h', '7d', 'lag2h', 'lag3h', 'lag24h', 'lag168h'] -%}
            {%- do specs.append({'feature_name': feature, 'window_len': window, 'column': feature ~ '_' ~ window}) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- for window in ['4w', '26w'] -%}
        {%- for feature in ['same_weekday_hour_mean_net_change', 'same_weekday_hour_mean_pickups', 'same_weekday_hour_mean_dropoffs'] -%}
            {%- do specs.append({'feature_name': feature, 'window_len': window, 'column': feature ~ '_' ~ window}) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- for feature in ['daily_same_hour_mean_net_change', 'daily_same_hour_mean_pickups', 'daily_same_hour_mean_dropoffs'] -%}
        {%- do specs.append({'feature_name': feature, 'window_len': '7d', 'column': feature ~ '_7d'}) -%}
    {%- endfor -%}
    {%- for feature in ['system_pickup_count', 'system_dropoff_count'] -%}
        {%- for window in ['15m', '30m', '1h', '24h'] -%}
            {%- do specs.append({'feature_name': feature, 'window_len': window, 'column': feature ~ '_' ~ window}) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- for feature in ['is_peak_station', 'capacity', 'hour_of_day', 'day_of_week', 'is_holiday'] -%}
        {%- do specs.append({'feature_name': feature, 'window_len': 'static', 'column': feature}) -%}
    {%- endfor -%}
    {{- return(specs) -}}
{% endmacro %}

{#- Kept in step with the accepted_values lists of models/marts/_marts.yml. -#}
{% macro station_feature_names() %}
    {{- return(station_feature_specs() | map(attribute='feature_name') | unique | list) -}}
{% endmacro %}

{% macro station_feature_windows() %}
    {{- return(station_feature_specs() | map(attribute='window_len') | unique | list) -}}
{% endmacro %}
