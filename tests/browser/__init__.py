"""Browser tests of the Performance view (a real Airflow API server, real Chromium)."""
