{#- Local time per bike share system (issue 24 §2): every local-hour feature, weekday and holiday reads the
    clock of its row's system, from the systems seed (include/dbt/seeds/systems.csv). The zone must be a
    literal: BigQuery takes a column, but the emulator casts a non-literal zone to TIME (docs/country.md).
    So the seed's rows are read when a model compiles, and each expression is a CASE over them, one literal
    zone per system (a single system needs no CASE). -#}

{#- [(system_id, time_zone), ...] of the systems seed, ordered by id; at parse time (nothing read yet) the
    default system's zone, so the SQL compiles the same way. -#}
{% macro system_time_zones() %}
    {%- set systems = ref('systems') -%}
    {%- if not execute -%}
        {{- return([[var('default_system_id'), 'UTC']]) -}}
    {%- endif -%}
    {%- set table = run_query('select system_id, time_zone from ' ~ systems ~ ' order by system_id') -%}
    {%- set zones = [] -%}
    {%- for row in table.rows -%}
        {%- do zones.append([row[0], row[1]]) -%}
    {%- endfor -%}
    {%- if not zones -%}
        {{- exceptions.raise_compiler_error('the systems seed is empty: run dbt seed (bikeshare_setup)') -}}
    {%- endif -%}
    {{- return(zones) -}}
{% endmacro %}

{#- `expression` with the system's zone in place of ZONE, for the row's `system_column`. -#}
{% macro in_system_zone(expression, system_column='system_id') -%}
    {%- set zones = system_time_zones() -%}
    {%- if zones | length == 1 -%}
        {{ expression | replace('ZONE', "'" ~ zones[0][1] ~ "'") }}
    {%- else -%}
        case {{ system_column }}
            {%- for system_id, zone in zones %}
            when '{{ system_id }}' then {{ expression | replace('ZONE', "'" ~ zone ~ "'") }}
            {%- endfor %}
        end
    {%- endif -%}
{%- endmacro %}

{#- The row's system's wall-clock time (DATETIME) and date of the timestamp ts. -#}
{% macro local_datetime(ts, system_column='system_id') -%}
    {{ in_system_zone('datetime(' ~ ts ~ ', ZONE)', system_column) }}
{%- endmacro %}

{% macro local_date(ts, system_column='system_id') -%}
    {{ in_system_zone('date(' ~ ts ~ ', ZONE)', system_column) }}
{%- endmacro %}

{#- The system's UTC offset at ts in hours (-4 or -5 in New York, -7 all year in Phoenix): its wall-clock
    time read as UTC, minus ts. From microseconds, not TIMESTAMP_DIFF (the emulator counts unit boundaries;
    docs/local-stack.md). -#}
{% macro utc_offset_hours(ts, system_column='system_id') -%}
    div((unix_micros(timestamp({{ local_datetime(ts, system_column) }})) - unix_micros({{ ts }})), 3600000000)
{%- endmacro %}
