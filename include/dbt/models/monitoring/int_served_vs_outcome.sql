{#- One row per station and hour that had a served next-hour forecast (horizon 1: the run at the
    hour's start; rows from before the horizons have none and are horizon 1) and whose outcome is in:
    what was served (station_predictions), what happened (station_hourly_labels), and what each naive
    baseline of include/ml/baselines.py would have said, read from the feature store as of the
    hour's start (the same values the model saw): same hour last week = net_change_lag168h, mean of
    the last 4 same-weekday hours = same_weekday_hour_mean_net_change_4w, historical mean of the
    station's weekday x hour = same_weekday_hour_mean_net_change_26w (26 weeks before the hour,
    where the training gate uses the training part of its window), zero. -#}

with

served as (

    select * from {{ source('bikeshare', 'station_predictions') }}
    where coalesce(horizon, 1) = 1

),

outcomes as (

    select * from {{ ref('station_hourly_labels') }}

),

features as (

    select * from {{ ref('station_features_wide') }}

),

scored_hours as (

    select
        coalesce(served.system_id, '{{ var("default_system_id") }}') as system_id,
        served.station_id,
        served.target_hour as hour_start,
        served.model_version,
        outcomes.net_change as actual_net_change,
        served.predicted_net_change as model_point,
        coalesce(served.predicted_net_change_mean, served.predicted_net_change) as model_mean,
        coalesce(features.net_change_lag168h, 0) as same_hour_last_week,
        coalesce(features.same_weekday_hour_mean_net_change_4w, 0) as mean_last_4_same_weekday_hours,
        coalesce(features.same_weekday_hour_mean_net_change_26w, 0) as historical_mean_station_weekday_hour
    from served
    inner join outcomes
        on
            coalesce(served.system_id, '{{ var("default_system_id") }}') = outcomes.system_id
            and served.station_id = outcomes.station_id
            and served.target_hour = outcomes.hour_start
    left join features
        on
            coalesce(served.system_id, '{{ var("default_system_id") }}') = features.system_id
            and served.station_id = features.station_id
            and served.target_hour = features.as_of
    where served.target_hour < timestamp_trunc({{ as_of_end_literal() }}, hour)

),

final as (

    {#- tall: one row per predictor; `point_forecast` is scored on MAE and ranks stations (precision@10),
        `mean_forecast` is scored on RMSE (the model's two columns, include/ml/model.py SCORED_COLUMNS) -#}
    select system_id, station_id, hour_start, actual_net_change, 'model' as predictor, model_point as point_forecast, model_mean as mean_forecast
    from scored_hours
    union all
    select system_id, station_id, hour_start, actual_net_change, 'zero', cast(0 as float64), cast(0 as float64)
    from scored_hours
    {%- for baseline in ['same_hour_last_week', 'historical_mean_station_weekday_hour', 'mean_last_4_same_weekday_hours'] %}
    union all
    select system_id, station_id, hour_start, actual_net_change, '{{ baseline }}', {{ baseline }}, {{ baseline }}
    from scored_hours
    {%- endfor %}

)

select * from final
