"""The dagster-dev example code location.

It ships inside the chart (a ConfigMap) so that a fresh install works with the stock Dagster image
and no network. The job dagster_dev_probe runs like any production job here: the run is a
Kubernetes Job, and its step runs in another Job started by a Celery worker. The op reports the
environment variables named in its config, which shows which value won in a job pod:

    ops:
      probe:
        config:
          keys: [MY_VAR, OTHER_VAR]

logs "DAGSTER_DEV_PROBE MY_VAR=<value>" per key ("<unset>" when missing) and returns the mapping.
The chart's own secret variables (the database password, the broker URL with its password) are
never reported: anyone who can launch a run in Dagit could otherwise read them; the probe says
"<redacted>" when they are set.
"""

import os

from dagster import Array, Definitions, Field, job, op
from dagster_celery_k8s import celery_k8s_job_executor

UNSET = "<unset>"
REDACTED = "<redacted>"
# Set by the chart in every Dagster and job pod from its own Secrets.
CHART_SECRETS = frozenset({"DAGSTER_PG_PASSWORD", "DAGSTER_CELERY_BROKER_URL"})


@op(
    config_schema={
        "keys": Field(
            Array(str),
            default_value=[],
            description="Names of environment variables to report.",
        )
    }
)
def probe(context) -> dict:
    found = {}
    for key in context.op_config["keys"]:
        value = os.environ.get(key, UNSET)
        if key in CHART_SECRETS and value != UNSET:
            value = REDACTED
        found[key] = value
        line = f"DAGSTER_DEV_PROBE {key}={value}"
        # Both the event log (Dagit, GraphQL) and the pod log (kubectl logs) get the line.
        context.log.info(line)
        print(line, flush=True)
    return found


@job(executor_def=celery_k8s_job_executor)
def dagster_dev_probe():
    probe()


defs = Definitions(jobs=[dagster_dev_probe])
