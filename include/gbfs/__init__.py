"""Station inventory from a GBFS v2.3 feed (docs/design.md §2.8 and §7, issue 22 §1).

- ``feed``: the feed contract in code: gbfs.json / station_information.json / station_status.json payloads
  → valid rows, or dead letters with a reason code; pure, never raises.
- ``poll``: the I/O: fetch through the auto-discovery URL with a timeout, honour ``ttl``, keep what is new
  (one row per station and ``last_reported``) in BigQuery, dead-letter the rest.
- ``status``: the reader: each station's stock as of an hour, for the plan.
- ``server``: the local profile's feed, a real HTTP server on 127.0.0.1 whose stock is rebuilt from the
  events published to Pub/Sub (:mod:`include.rebalancing.inventory`).
- ``settings``: the feed URL, timeouts and the local server's state, from ``BIKESHARE_GBFS_*``.
"""
