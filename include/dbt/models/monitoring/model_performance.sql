{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key=['system_id', 'window_end', 'window_name', 'predictor'],
        partition_by={'field': 'window_end', 'data_type': 'timestamp', 'granularity': 'day'},
        on_schema_change='append_new_columns',
    )
}}
{#- Live performance of the served forecasts against the naive baselines, rolling: for each hour
    `window_end`, MAE, RMSE and precision@10 over the scored station-hours of [window_end - 24 h,
    window_end) and [window_end - 7 d, window_end). Metrics as include/ml/evaluate.py: MAE of the
    point forecast, RMSE of the mean forecast, precision@10 = share of the 10 stations ranked
    highest by |forecast| whose |net change| was >= 3, averaged over the hours with such a move.
    The plan's risks are scored in the same windows, as predictors of their own (risk_empty_1h,
    risk_full_1h, risk_empty_3h, risk_full_3h, from int_risk_vs_outcome): `brier` = mean of
    (p - outcome)^2 over the scored station-hours, mae / rmse / precision@10 null; the forecasts' rows
    have a null brier. A risk of plan hour T counts in the hour T + horizon - 1 h (its window's last
    hour, as a forecast's target hour), so a window holds the risks whose outcome ended in it; the
    24h row at each window end is the Brier score of the day before it (at 00:00 UTC: the calendar day).
    `brier` came after the first deployment: on_schema_change adds it to an existing table (older rows
    keep null; macros/schema_change.sql makes that work on the emulator too).
    A run (bikeshare_monitoring, hourly) adds the window ends up to its as_of and recomputes the
    last 48 h, which late events and reruns of the training DAG may have changed; the first build
    covers the last 7 days. -#}
{%- set recompute_hours = 48 %}

with

scored as (

    select * from {{ ref('int_served_vs_outcome') }}

),

risk_outcomes as (

    select * from {{ ref('int_risk_vs_outcome') }}

),

risk_scored as (

    -- tall: one row per station, plan hour and risk that has both a probability and an outcome
    {%- for target, hours in [('empty', 1), ('full', 1), ('empty', 3), ('full', 3)] %}
    {%- if not loop.first %}
    union all
    {%- endif %}
    select
        system_id,
        station_id,
        timestamp_add(plan_hour, interval {{ hours - 1 }} hour) as hour_start,
        'risk_{{ target }}_{{ hours }}h' as predictor,
        p_{{ target }}_{{ hours }}h as probability,
        if({{ target }}_{{ hours }}h, 1.0, 0.0) as outcome
    from risk_outcomes
    where p_{{ target }}_{{ hours }}h is not null and {{ target }}_{{ hours }}h is not null
    {%- endfor %}

),

scored_times as (

    select hour_start from scored
    union all
    select hour_start from risk_scored

),

bounds as (

    select
        timestamp_add(max(hour_start), interval 1 hour) as last_end,
        {%- if is_incremental() %}
        least(
            coalesce(
                timestamp_add({{ timestamp_literal(newest_time(this.identifier, 'window_end')) }}, interval 1 hour),
                timestamp_sub(timestamp_add(max(hour_start), interval 1 hour), interval 167 hour)
            ),
            timestamp_sub(timestamp_add(max(hour_start), interval 1 hour), interval {{ recompute_hours }} hour)
        ) as first_end
        {%- else %}
        timestamp_sub(timestamp_add(max(hour_start), interval 1 hour), interval 167 hour) as first_end
        {%- endif %}
    from scored_times

),

recent as (

    -- the hours the windows can reach: the scan does not grow with the history
    select scored.*
    from scored
    cross join bounds
    where scored.hour_start >= timestamp_sub(bounds.first_end, interval 168 hour)

),

windows as (

    select window_end, window_spec.window_name, window_spec.window_hours
    from bounds
    cross join unnest(generate_timestamp_array(bounds.first_end, bounds.last_end, interval 1 hour)) as window_end
    cross join (
        select '24h' as window_name, 24 as window_hours
        union all
        select '7d', 168
    ) as window_spec

),

in_window as (

    select
        windows.window_end,
        windows.window_name,
        recent.*
    from windows
    inner join recent
        on
            recent.hour_start >= timestamp_sub(windows.window_end, interval windows.window_hours hour)
            and recent.hour_start < windows.window_end

),

errors as (

    select
        system_id,
        window_end,
        window_name,
        predictor,
        count(distinct hour_start) as scored_hours,
        count(*) as station_hours,
        cast(avg(abs(point_forecast - actual_net_change)) as float64) as mae,
        cast(sqrt(avg((mean_forecast - actual_net_change) * (mean_forecast - actual_net_change))) as float64) as rmse
    from in_window
    group by system_id, window_end, window_name, predictor

),

ranked as (

    select
        system_id,
        hour_start,
        predictor,
        abs(actual_net_change) >= 3 as big_move,
        row_number() over (partition by system_id, hour_start, predictor order by abs(point_forecast) desc, station_id) as rank_in_hour
    from recent

),

hourly_precision as (

    select
        system_id,
        hour_start,
        predictor,
        cast(countif(rank_in_hour <= 10 and big_move) as float64) / 10 as precision_at_10
    from ranked
    group by system_id, hour_start, predictor
    having logical_or(big_move)

),

window_precision as (

    select
        hourly_precision.system_id,
        windows.window_end,
        windows.window_name,
        hourly_precision.predictor,
        cast(avg(hourly_precision.precision_at_10) as float64) as precision_at_10
    from windows
    inner join hourly_precision
        on
            hourly_precision.hour_start >= timestamp_sub(windows.window_end, interval windows.window_hours hour)
            and hourly_precision.hour_start < windows.window_end
    group by hourly_precision.system_id, windows.window_end, windows.window_name, hourly_precision.predictor

),

risk_hourly as (

    -- per hour first: each window then sums 24 or 168 small rows, not every station-hour again
    select
        risk_scored.system_id,
        risk_scored.hour_start,
        risk_scored.predictor,
        count(*) as station_hours,
        sum((risk_scored.probability - risk_scored.outcome) * (risk_scored.probability - risk_scored.outcome)) as squared_error
    from risk_scored
    cross join bounds
    where risk_scored.hour_start >= timestamp_sub(bounds.first_end, interval 168 hour)
    group by risk_scored.system_id, risk_scored.hour_start, risk_scored.predictor

),

risk_scores as (

    select
        risk_hourly.system_id,
        windows.window_end,
        windows.window_name,
        risk_hourly.predictor,
        count(*) as scored_hours,
        sum(risk_hourly.station_hours) as station_hours,
        cast(sum(risk_hourly.squared_error) / sum(risk_hourly.station_hours) as float64) as brier
    from windows
    inner join risk_hourly
        on
            risk_hourly.hour_start >= timestamp_sub(windows.window_end, interval windows.window_hours hour)
            and risk_hourly.hour_start < windows.window_end
    group by risk_hourly.system_id, windows.window_end, windows.window_name, risk_hourly.predictor

),

forecast_scores as (

    select
        errors.system_id,
        errors.window_end,
        errors.window_name,
        errors.predictor,
        errors.scored_hours,
        errors.station_hours,
        errors.mae,
        errors.rmse,
        window_precision.precision_at_10,
        cast(null as float64) as brier
    from errors
    left join window_precision
        on
            errors.system_id = window_precision.system_id
            and errors.window_end = window_precision.window_end
            and errors.window_name = window_precision.window_name
            and errors.predictor = window_precision.predictor

),

final as (

    select * from forecast_scores
    union all
    select
        system_id,
        window_end,
        window_name,
        predictor,
        scored_hours,
        station_hours,
        cast(null as float64) as mae,
        cast(null as float64) as rmse,
        cast(null as float64) as precision_at_10,
        brier
    from risk_scores

)

select * from final
