"""The only package that imports Airflow: the DAG factory and its callbacks."""
