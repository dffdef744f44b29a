"""The Performance view: an Airflow plugin FastAPI app (pages and a JSON API) reading through storage/.

Kept import-free: ``plugin.py`` reads ``URL_PREFIX`` here in every Airflow component.
"""

#: Where Airflow's API server mounts the app (``plugin.py``); pages link below it.
URL_PREFIX = "/perf-profiler"
