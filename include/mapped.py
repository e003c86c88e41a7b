"""Tasks mapped over the systems (one map index per system): the label the UI shows, and the task's settings.

The DAGs map their per-system work with ``.expand(system_id=...)`` over ``enabled_system_ids()``; each such task
calls :func:`system_settings` first, which scopes the settings to the system and names the map index after it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from include.gcp.settings import Settings

SYSTEM_LABEL = "{{ system_id }}"  # map_index_template: the UI shows the system, not 0..K-1


def system_settings(system_id: str) -> Settings:
    """The running task's settings scoped to ``system_id``, which also labels its map index (SYSTEM_LABEL)."""
    from airflow.sdk import get_current_context

    from include.gcp.settings import get_settings

    get_current_context()["system_id"] = system_id  # type: ignore[typeddict-unknown-key]  # map_index_template
    return get_settings().for_system(system_id)
