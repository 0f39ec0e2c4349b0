-- MLflow's tracking store shares the PostgreSQL server with Airflow's metadata DB, in its own database;
-- Nightshift's promotion locks (NIGHTSHIFT_LOCK_URI) live there too, beside the registry they guard.
CREATE DATABASE mlflow OWNER airflow;
