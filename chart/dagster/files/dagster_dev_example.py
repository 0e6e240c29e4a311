"""The dagster-dev example code location.

It ships inside the chart (a ConfigMap) so that a fresh install works with the stock Dagster image
and no network. The job dagster_dev_probe runs like any production job here: the run is a
Kubernetes Job, and its step runs in another Job, started by a Celery worker (CeleryK8sRunLauncher)
or by the run pod (K8sRunLauncher). The op reports the
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
from dagster_k8s import k8s_job_executor

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


# The chart sets DAGSTER_DEV_RUN_LAUNCHER=K8sRunLauncher in every pod that loads this file (code
# server, run and step pods) when runs go through the K8sRunLauncher: then each step is a Job the run
# pod starts (k8s_job_executor); otherwise a Job a Celery worker starts (celery_k8s_job_executor).
EXECUTOR = (
    k8s_job_executor
    if os.environ.get("DAGSTER_DEV_RUN_LAUNCHER") == "K8sRunLauncher"
    else celery_k8s_job_executor
)


@job(executor_def=EXECUTOR)
def dagster_dev_probe():
    probe()


defs = Definitions(jobs=[dagster_dev_probe])
