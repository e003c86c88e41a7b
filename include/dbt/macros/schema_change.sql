{#- on_schema_change='append_new_columns' (model_performance gained `brier`). dbt-bigquery adds columns with
    tables.patch, which the BigQuery emulator keeps in its catalog only: the merge that follows fails
    ("does not have a column with name ...", docs/local-stack.md "dbt-bigquery on the emulator").
    ALTER TABLE ... ADD COLUMN IF NOT EXISTS changes the table on both; the adapter's patch then runs only
    for what tables.get still lacks: nothing on BigQuery, the catalog on the emulator. Removals
    (sync_all_columns) go to the adapter. -#}
{% macro bigquery__alter_relation_add_remove_columns(relation, add_columns, remove_columns) %}
    {%- for column in add_columns or [] %}
        {%- do run_query('alter table ' ~ relation.render() ~ ' add column if not exists '
            ~ adapter.quote(column.name) ~ ' ' ~ column.data_type) -%}
    {%- endfor %}
    {%- set present = [] -%}
    {%- for column in adapter.get_columns_in_relation(relation) -%}
        {%- do present.append(column.name | lower) -%}
    {%- endfor -%}
    {%- set missing = [] -%}
    {%- for column in add_columns or [] if (column.name | lower) not in present -%}
        {%- do missing.append(column) -%}
    {%- endfor -%}
    {%- if missing or remove_columns -%}
        {%- do adapter.alter_table_add_remove_columns(relation, missing, remove_columns) -%}
    {%- endif -%}
{% endmacro %}
