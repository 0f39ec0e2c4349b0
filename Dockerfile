# The image of docker-compose.yaml's Airflow and MLflow services: Airflow, MLflow, the library, the specs.
FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 AIRFLOW_HOME=/opt/airflow
RUN pip install uv
WORKDIR /opt/nightshift
COPY requirements.txt pyproject.toml README.md ./
RUN uv pip install --system -r requirements.txt
COPY include ./include
COPY dags ./dags
COPY plugins ./plugins
RUN uv pip install --system --no-deps -e .
RUN useradd --create-home --uid 50000 nightshift && mkdir -p /opt/airflow /data && chown -R nightshift /opt/airflow /data
USER nightshift
