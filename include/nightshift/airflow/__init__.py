"""The only package that imports Airflow: the DAG factory and its callbacks, and Airflow's connections
as the library's connection lookup, installed here so every task (the DAG file imports this package)
and the `nightshift` CLI look connections up in Airflow. Cheap: Airflow is imported only on a lookup."""

from nightshift.airflow.connections import airflow_connection
from nightshift.connections import use_lookup

use_lookup(airflow_connection)
