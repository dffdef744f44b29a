"""End-to-end suite: a real Airflow driven through its REST API and its UI (see conftest.py)."""
