{#- None of `columns` is null: one query for several columns (the tall view's columns would cost one
    unpivot each as separate not_null tests). Failing rows: those with a null. -#}
{% test not_null_columns(model, columns) %}
    select *
    from {{ model }}
    where
        {%- for column in columns %}
        {{ column }} is null{{ ' or' if not loop.last }}
        {%- endfor %}
{% endtest %}
