{#- Every (feature_name, window_len) of the model is an entry of the feature catalogue
    (macros/feature_specs.sql): the pair, not each column alone, so '26w' of pickup_count fails. -#}
{% test in_feature_catalogue(model) %}
    with

    catalogue as (
        {{ station_feature_catalogue_sql() }}
    ),

    model_pairs as (
        select distinct feature_name, window_len from {{ model }}
    )

    select model_pairs.*
    from model_pairs
    left join catalogue
        on
            model_pairs.feature_name = catalogue.feature_name
            and model_pairs.window_len = catalogue.window_len
    where catalogue.feature_name is null
{% endtest %}
