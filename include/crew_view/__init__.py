"""The rebalancing crews' view: the hour's plan (where each truck goes and why), every station's risk, and,
one click away for engineers, the forecast behind it and how far to trust the model.

Served inside Airflow by the UI plugin in ``plugins/crew_view.py`` (a FastAPI app mounted under
``/crew-view`` and listed in the navigation). Everything but the plugin's glue lives here:

- :mod:`~include.crew_view.data`: the view's plain data (no I/O, stdlib only): routes and stops, risk
  bands, data-quality warnings, ranking;
- :mod:`~include.crew_view.clock`: local time first (the system's time zone), the hour picker's values;
- :mod:`~include.crew_view.sources`: reads it from BigQuery (``station_risk``, ``rebalancing_plan``, the
  stations seed, ``model_performance``) and the bucket (registry, Avro predictions) through the project's
  clients, on either profile;
- :mod:`~include.crew_view.svg` and :mod:`~include.crew_view.page`: server-rendered HTML with inline
  SVG (maps, chart): nothing is fetched from the internet, no map tiles, no scripts;
- :mod:`~include.crew_view.app`: the FastAPI app; :mod:`~include.crew_view.lazy`: the stdlib-only
  wrapper that lets the plugin register it without importing FastAPI or Google's clients in every
  Airflow process that loads plugins.
"""
