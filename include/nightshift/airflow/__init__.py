"""The only package that imports Airflow: the DAG factory and its callbacks, and Airflow's connections
(with the Amazon provider's AWS sessions) as the library's, installed here so every task (the DAG file
imports this package) and the `nightshift` CLI look connections up in Airflow. Cheap: Airflow is imported
only on a lookup."""

from nightshift.airflow.connections import airflow_connection, provider_aws_session
from nightshift.connections import use_aws_sessions, use_lookup

use_lookup(airflow_connection)
use_aws_sessions(provider_aws_session)
