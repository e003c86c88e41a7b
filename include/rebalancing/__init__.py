"""From forecasts to moves (docs/design.md §7): inventory → risk of empty/full → target interval → move plan.

Pure functions over arrays, I/O at the edges (``hourly`` reads and writes; the rest never touch a client):

- ``inventory``: a station's dock count rebuilt from pickups and dropoffs, clamped to ``[0, capacity]``,
  counting the attempts that hit an empty or full dock (failed pickups / failed returns);
- ``risk``: ``p_empty`` / ``p_full`` within 1 h and 3 h from an exact birth-death chain on ``0..capacity``
  with the forecast hourly pickup and dropoff rates, and the target interval ``[low, high]`` at a service
  level;
- ``plan``: the trucks' moves ``(from_station, to_station, bikes, truck, order)`` that bring the stations
  into their target interval, the most exposed to failures first (``risk.failure_exposure``), shortest
  distances next, solved by a well-kept solver.
"""
