{#- Late events (docs/design.md §2.2: accepted up to late_event_limit_minutes late, counted in their own
    label hour and in every feature as_of that should include them, by the next features run).

    Self-reconciliation by counts. While a mart compiles, one query recounts each fleet station's
    pickups and dropoffs of every hour in the reconcile window straight from stg_raw_events and
    compares them with what the mart holds: pickup_count_1h / dropoff_count_1h at every as_of of
    station_features_wide (and the 7-day counts at the first as_of of a station
    that joined the fleet in the window), pickups / dropoffs of every hour of
    station_hourly_labels. A fleet station without a row counts as a mismatch too. The run then
    rebuilds from the earliest mismatch on (the models' `bounds`), so late events reach every
    as_of and label hour after them. Stateless (nothing but the tables is kept), exact (counts,
    not ingest clocks), and after a crash the next run finds the same mismatches again.

    Reconcile window: the times t <= the mart's newest time since (newest - late_event_limit_minutes
    - 60 min): relative to what the mart holds, not to the run's as_of, so a features DAG that was
    down still reconciles what was accepted since its last run. Cost: events of ~49 hours (~9 days for
    the features: the 7-day counts of stations that joined in the window) and the stored counts of
    ~200 as_ofs x the fleet, between TIMESTAMP literals (partition pruning on BigQuery), plus the
    fleet (int_fleet_stations, which the models read too).

    The merge floor (late_event_merge_predicate) is the oldest time a run may rewrite. dbt renders
    incremental_predicates when it parses, from the vars alone, so the floor cannot follow the newest
    as_of; it is as_of - lookback - 2 x limit - 2 h, and the window is clipped to it: runs reconcile
    everything after a features outage of up to late_event_limit_minutes. -#}

{#- The oldest time a run may rewrite (a datetime on the 15-minute grid). -#}
{% macro late_event_merge_floor() %}
    {%- set minutes = (var('late_event_lookback_minutes') | int) + 2 * (var('late_event_limit_minutes') | int) + 120 -%}
    {{- return(floor_minutes(as_of_end_datetime() - modules.datetime.timedelta(minutes=minutes), 15)) -}}
{% endmacro %}

{#- The merge predicate that keeps an increment from scanning the whole target (and prunes
    partitions on BigQuery). Safe: every source row older than the floor is a new as_of (hour),
    which matches nothing; no run recomputes an existing row older than the floor. -#}
{% macro late_event_merge_predicate(column, truncate_to_hour=false) %}
    {%- set bound = late_event_merge_floor() -%}
    {%- if truncate_to_hour -%}
        {%- set bound = floor_minutes(bound, 60) -%}
    {%- endif -%}
    {{- return('DBT_INTERNAL_DEST.' ~ column ~ ' >= ' ~ timestamp_literal(bound)) -}}
{% endmacro %}

{#- The times a run checks, on a grid of `step` minutes: {'first': …, 'last': …} (datetimes), or
    none when there is nothing to check. From newest - limit - 60 min (not before the merge floor +
    1 h, nor before `not_before`) to newest (not after `last_allowed`: a backfill of an older
    interval checks only its own past). -#}
{% macro late_event_check_window(newest, step, last_allowed, not_before=none) %}
    {%- set delta = modules.datetime.timedelta -%}
    {%- set candidates = [
        newest - delta(minutes=(var('late_event_limit_minutes') | int) + 60),
        late_event_merge_floor() + delta(minutes=60),
    ] -%}
    {%- if not_before -%}
        {%- do candidates.append(parse_utc(not_before)) -%}
    {%- endif -%}
    {%- set first = floor_minutes(candidates | max, step) -%}
    {%- set last = floor_minutes([newest, last_allowed] | min, step) -%}
    {{- return(none if first > last else {'first': first, 'last': last}) -}}
{% endmacro %}

{#- The earliest time of `window` whose stored counts differ from a recount, or none.
    `built`: SQL with system_id, station_id, at_time, pickups, dropoffs for at_time in the window. The counts
    at t cover events in [t + offset, t + offset + 60 min) (offset -60 for a feature as_of, 0 for a
    label hour); a station is in the fleet at t when its first pickup is before t + offset + 60 min,
    as in the models. With `check_week` (features), `built` also has pickups_7d, dropoffs_7d
    ([t - 7 days, t)), compared at the first as_of of each station that joined the fleet inside the
    window: a late dropoff from before a station's first pickup is in no 1-hour count of a fleet row,
    only in the station's longer windows once it joins. -#}
{% macro first_late_event_mismatch(built, window, step, offset, check_week=false) %}
    {%- set delta = modules.datetime.timedelta -%}
    {%- set events_from = window.first + delta(minutes=offset) -%}
    {%- set events_until = window.last + delta(minutes=offset + 60) -%}
    {#- the oldest event a branch counts: the 1-hour recount from events_from; the 7-day one at a
        joined station's first as_of t > window.first, from t - 7 days (a literal: partition pruning) -#}
    {%- set events_since = events_from - delta(days=7) if check_week else events_from -%}
    {%- set sql -%}
        with

        events as (

            select system_id, station_id, event_at, kind, delta
            from {{ ref('stg_raw_events') }}
            where
                event_at >= {{ timestamp_literal(events_since) }}
                and event_at < {{ timestamp_literal(events_until) }}

        ),

        built as (

            {{ built }}

        ),

        window_events as (

            select *
            from events
            where event_at >= {{ timestamp_literal(events_from) }}

        ),

        fleet as (

            select
                system_id,
                station_id,
                joined_at as first_pickup_at
            from {{ ref('int_fleet_stations') }}

        ),

        checked as (

            select at_time
            from unnest(generate_timestamp_array(
                {{ timestamp_literal(window.first) }}, {{ timestamp_literal(window.last) }}, interval {{ step }} minute
            )) as at_time

        ),

        expected as (

            select
                fleet.system_id,
                fleet.station_id,
                checked.at_time
            from checked
            cross join fleet
            where fleet.first_pickup_at < timestamp_add(checked.at_time, interval {{ offset + 60 }} minute)

        ),

        recounted as (

            select
                expected.system_id,
                expected.station_id,
                expected.at_time,
                coalesce(sum(if(window_events.kind = 'pickup', window_events.delta, 0)), 0) as pickups,
                coalesce(sum(if(window_events.kind = 'dropoff', window_events.delta, 0)), 0) as dropoffs
            from expected
            left join window_events
                on
                    expected.system_id = window_events.system_id
                    and expected.station_id = window_events.station_id
                    and window_events.event_at >= timestamp_add(expected.at_time, interval {{ offset }} minute)
                    and window_events.event_at < timestamp_add(expected.at_time, interval {{ offset + 60 }} minute)
            group by expected.system_id, expected.station_id, expected.at_time

        ),

        {%- if check_week %}

        joined as (

            -- stations whose first as_of in the fleet is inside the window, at that as_of
            select
                system_id,
                station_id,
                min(at_time) as at_time
            from expected
            group by system_id, station_id
            having min(at_time) > {{ timestamp_literal(window.first) }}

        ),

        joined_recounted as (

            select
                joined.system_id,
                joined.station_id,
                joined.at_time,
                coalesce(sum(if(events.kind = 'pickup', events.delta, 0)), 0) as pickups_7d,
                coalesce(sum(if(events.kind = 'dropoff', events.delta, 0)), 0) as dropoffs_7d
            from joined
            left join events
                on
                    joined.system_id = events.system_id
                    and joined.station_id = events.station_id
                    and events.event_at >= timestamp_sub(joined.at_time, interval 10080 minute)
                    and events.event_at < joined.at_time
            group by joined.system_id, joined.station_id, joined.at_time

        ),
        {%- endif %}

        mismatches as (

            -- a missing row, or counts that miss a late event
            select recounted.at_time
            from recounted
            left join built
                on
                    recounted.system_id = built.system_id
                    and recounted.station_id = built.station_id
                    and recounted.at_time = built.at_time
            where
                built.station_id is null
                or built.pickups != recounted.pickups
                or built.dropoffs != recounted.dropoffs
            {%- if check_week %}

            union all

            select joined_recounted.at_time
            from joined_recounted
            inner join built
                on
                    joined_recounted.system_id = built.system_id
                    and joined_recounted.station_id = built.station_id
                    and joined_recounted.at_time = built.at_time
            where
                built.pickups_7d != joined_recounted.pickups_7d
                or built.dropoffs_7d != joined_recounted.dropoffs_7d
            {%- endif %}

        )

        select min(at_time) as first_mismatch from mismatches
    {%- endset -%}
    {%- set first_mismatch = run_query(sql).columns[0].values()[0] -%}
    {{- return(none if first_mismatch is none else parse_utc(first_mismatch)) -}}
{% endmacro %}

{#- The earliest as_of station_features_wide must rebuild for late events (a TIMESTAMP literal), or
    a NULL timestamp; checked against its own columns. An event in [t - 1h, t) first shows at as_of
    floor(ts) + 15 min >= t - 45 min, so a mismatch at t rebuilds from t - 45 min (a 7-day mismatch
    at a station's first as_of t concerns as_ofs from t on). station_features, its unpivot (a view),
    follows by itself. -#}
{% macro late_event_start_as_of_wide() %}
    {%- set identifier = 'station_features_wide' -%}
    {%- set newest = newest_time(identifier, 'as_of') -%}
    {%- if newest is none -%}
        {{- return(timestamp_literal(none)) -}}
    {%- endif -%}
    {%- set window = late_event_check_window(newest, 15, as_of_end_datetime(), var('features_start', none)) -%}
    {%- if window is none -%}
        {{- return(timestamp_literal(none)) -}}
    {%- endif -%}
    {%- set relation = adapter.get_relation(database=this.database, schema=this.schema, identifier=identifier) -%}
    {%- set time_filter = 'as_of >= ' ~ timestamp_literal(window.first) ~ ' and as_of <= ' ~ timestamp_literal(window.last) -%}
    {%- set built -%}
        select
            system_id,
            station_id,
            as_of as at_time,
            pickup_count_1h as pickups,
            dropoff_count_1h as dropoffs,
            pickup_count_7d as pickups_7d,
            dropoff_count_7d as dropoffs_7d
        from {{ relation }}
        where {{ time_filter }}
    {%- endset -%}
    {%- set first_mismatch = first_late_event_mismatch(built, window, 15, -60, check_week=true) -%}
    {%- if first_mismatch is none -%}
        {{- return(timestamp_literal(none)) -}}
    {%- endif -%}
    {{- return(timestamp_literal(first_mismatch - modules.datetime.timedelta(minutes=45))) -}}
{% endmacro %}

{#- The earliest label hour station_hourly_labels must rebuild for late events (a datetime), or
    none. Called only when the model is incremental. -#}
{% macro late_event_start_hour() %}
    {%- set newest = newest_time(this.identifier, 'hour_start') -%}
    {%- if newest is none -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- set last_complete_hour = floor_minutes(as_of_end_datetime(), 60) - modules.datetime.timedelta(hours=1) -%}
    {%- set window = late_event_check_window(newest, 60, last_complete_hour) -%}
    {%- if window is none -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- set built -%}
        select
            system_id,
            station_id,
            hour_start as at_time,
            pickups,
            dropoffs
        from {{ this }}
        where
            hour_start >= {{ timestamp_literal(window.first) }}
            and hour_start <= {{ timestamp_literal(window.last) }}
    {%- endset -%}
    {{- return(first_late_event_mismatch(built, window, 60, 0)) -}}
{% endmacro %}
