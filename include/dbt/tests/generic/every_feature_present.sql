{#- Every (station_id, as_of) of the tall table has each (feature_name, window_len) of the catalogue
    exactly once, and nothing outside it. Failing rows: the incomplete or unknown groups. -#}
{% test every_feature_present(model) %}
    {%- set specs = station_feature_specs() -%}
    with

    catalogue as (
        {{ station_feature_catalogue_sql() }}
    ),

    model_rows as (
        select * from {{ model }}  -- a relation, or the run window's subquery (macros/test_window.sql)
    ),

    per_key as (
        select
            model.system_id,
            model.station_id,
            model.as_of,
            countif(catalogue.feature_name is not null) as known_features,
            countif(catalogue.feature_name is null) as unknown_features
        from model_rows as model
        left join catalogue
            on
                model.feature_name = catalogue.feature_name
                and model.window_len = catalogue.window_len
        group by model.system_id, model.station_id, model.as_of
    )

    select *
    from per_key
    where known_features != {{ specs | length }} or unknown_features > 0
{% endtest %}
