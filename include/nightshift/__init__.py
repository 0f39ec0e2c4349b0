"""Nightshift: keeps ML models healthy in production, on Apache Airflow.

The platform library. Every stage is a plain function that takes explicit inputs (spec, lake, dates)
and returns a small result; only `nightshift.airflow` imports Airflow.
"""

__version__ = "0.1.0"
