-- MLflow's tracking store shares the PostgreSQL server with Airflow's metadata DB, in its own database.
CREATE DATABASE mlflow OWNER airflow;
