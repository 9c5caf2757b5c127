"""Load signals from vLLM deployments for litellm-semcache's adaptive policy.

Importing this package never requires vLLM. The stat-logger plugin and the ``/metrics`` scraper
arrive with the load-policy work; until then the cache runs its static per-category policy.
"""

__all__: list[str] = []
