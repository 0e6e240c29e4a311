"""Written by dagster-dev test; removed when the case ends."""

from dagster import Definitions, job, op
from dagster_celery_k8s import celery_k8s_job_executor


@op
def base_op(context):
    context.log.info("base")


@job(executor_def=celery_k8s_job_executor)
def dagster_dev_scratch_base():
    base_op()


@op
def edited_op(context):
    context.log.info("DAGSTER_DEV_CODE_MARKER edited-07505e07")
    print("DAGSTER_DEV_CODE_MARKER edited-07505e07", flush=True)


@job(executor_def=celery_k8s_job_executor)
def dagster_dev_edited_07505e07():
    edited_op()

defs = Definitions(jobs=[j for j in globals().values() if getattr(j, "__class__", None).__name__ == "JobDefinition"])
