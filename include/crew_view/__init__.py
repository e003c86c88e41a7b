"""The rebalancing crews' view: what the next hour asks of each station, and how far to trust it.

Served inside Airflow by the UI plugin in ``plugins/crew_view.py`` (a FastAPI app mounted under
``/crew-view`` and listed in the navigation). Everything but the plugin's glue lives here:

- :mod:`~include.crew_view.data`: the view's plain data (no I/O, stdlib only);
- :mod:`~include.crew_view.sources`: reads it from the bucket (registry, Avro predictions) and BigQuery
  (stations seed, ``model_performance``) through the project's clients, on either profile;
- :mod:`~include.crew_view.svg` and :mod:`~include.crew_view.page`: server-rendered HTML with inline
  SVG (map, chart): nothing is fetched from the internet, no map tiles, no scripts;
- :mod:`~include.crew_view.app`: the FastAPI app; :mod:`~include.crew_view.lazy`: the stdlib-only
  wrapper that lets the plugin register it without importing FastAPI or Google's clients in every
  Airflow process that loads plugins.
"""
