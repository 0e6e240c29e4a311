"""dagster-dev's run launcher: CeleryK8sRunLauncher plus each code location's k8s container context.

Every code server of this chart sets DAGSTER_CONTAINER_CONTEXT = {"k8s": {...}} (env_config_maps,
env_secrets, volumes, volume_mounts, image_pull_policy), and Dagster records it in the repository
origin of every run of that location. dagster-celery-k8s 0.29 ignores it: launch_run takes only the
image from the origin, and celery_k8s_job_executor builds the step Jobs from
run_launcher.get_k8s_job_config(), which reads the launcher config and the executor config only
(Dagster issue #13728). This subclass applies it to the run pod and, through an environment
variable of the run pod, to the step pods:

  daemon / Dagit: launch_run(context)
      reads context.job_code_origin.repository_origin.container_context["k8s"] and makes it visible
      to get_k8s_job_config() for the duration of the call (a ContextVar, so concurrent launches in
      threads or tasks never see each other's location);
  get_k8s_job_config(job_image, exc_config)
      starts from CeleryK8sRunLauncher's config and appends the location's ConfigMaps, Secrets,
      volumes and mounts (see merge_location_context), and adds
      DAGSTER_DEV_LOCATION_K8S=<json of the applied context> to env_vars;
  run pod: celery_k8s_job_executor calls run_launcher.get_k8s_job_config() with no launch in
      progress; the context then comes from DAGSTER_DEV_LOCATION_K8S, so every step Job gets the
      same ConfigMaps, Secrets, volumes and pull policy as the run pod.

Order: ConfigMaps and Secrets keep the launcher's first (executor config, then the instance's
job_runner layer), then the location's, skipping names already present. Kubernetes lets later
envFrom sources win, so the location's own ConfigMaps/Secrets beat job_runner's of the same kind.
Volumes are skipped when their name is taken, mounts when their mountPath is taken (the launcher's
win: a pod cannot have two). The location's image_pull_policy applies unless the run's executor
config sets one. Without a location context the config is exactly CeleryK8sRunLauncher's.

Only dagster, dagster-k8s (with its kubernetes client) and dagster-celery-k8s are imported, so the module loads wherever the
instance's run launcher is built: Dagit, the daemon, the run pod, and step pods or Celery workers
that touch instance.run_launcher.
"""

import contextvars
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import kubernetes.client
from dagster import Field, StringSource
from dagster._utils.merger import merge_dicts
from dagster_celery_k8s import CeleryK8sRunLauncher
from dagster_k8s import K8sRunLauncher
from dagster_k8s.job import DagsterK8sJobConfig
from dagster_k8s.models import k8s_snake_case_dict

__all__ = [
    "LOCATION_ENV_VAR",
    "LocationContextCeleryK8sRunLauncher",
    "StepIdentityK8sRunLauncher",
    "location_k8s_context",
    "merge_location_context",
]

# Carries the applied context from the run pod's launch to its executor (and on to the step pods).
LOCATION_ENV_VAR = "DAGSTER_DEV_LOCATION_K8S"

# The k8s container-context keys this launcher applies; others (env_vars, labels, resources,
# run_k8s_config, ...) are left alone.
_LIST_OF_NAMES = ("env_config_maps", "env_secrets")
_LIST_OF_OBJECTS = ("volumes", "volume_mounts")

# None: no launch in progress in this context (fall back to the environment). A dict (possibly
# empty): the location context of the run being launched right now.
_launching: "contextvars.ContextVar[dict[str, Any] | None]" = contextvars.ContextVar(
    "dagster_dev_location_k8s", default=None
)


class LocationContextError(ValueError):
    """A location's k8s container context has an unexpected shape."""


def location_k8s_context(container_context: Mapping[str, Any] | None) -> dict[str, Any]:
    """The part of a repository origin's container_context that this launcher applies.

    Returns a dict with some of env_config_maps, env_secrets (lists of non-empty names, order kept,
    duplicates dropped), volumes, volume_mounts (lists of dicts) and image_pull_policy (a string);
    empty when there is nothing to apply. Raises LocationContextError on values of the wrong type.
    """
    if not container_context:
        return {}
    if not isinstance(container_context, Mapping):
        raise LocationContextError(
            f"container_context must be a mapping, got {type(container_context).__name__}"
        )
    k8s = container_context.get("k8s") or {}
    if not isinstance(k8s, Mapping):
        raise LocationContextError(f"container_context.k8s must be a mapping, got {type(k8s).__name__}")
    out: dict[str, Any] = {}
    for key in _LIST_OF_NAMES:
        names = _list(k8s, key)
        kept: list[str] = []
        for name in names:
            if not isinstance(name, str):
                raise LocationContextError(f"container_context.k8s.{key}: {name!r} is not a name")
            if name and name not in kept:
                kept.append(name)
        if kept:
            out[key] = kept
    for key in _LIST_OF_OBJECTS:
        items = _list(k8s, key)
        for item in items:
            if not isinstance(item, Mapping) or not item.get("name"):
                raise LocationContextError(
                    f"container_context.k8s.{key}: {item!r} is not an object with a name"
                )
        if items:
            out[key] = [dict(item) for item in items]
    policy = k8s.get("image_pull_policy")
    if policy:
        if not isinstance(policy, str):
            raise LocationContextError(
                f"container_context.k8s.image_pull_policy: {policy!r} is not a string"
            )
        out["image_pull_policy"] = policy
    return out


def _list(k8s: Mapping[str, Any], key: str) -> Sequence[Any]:
    value = k8s.get(key) or []
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise LocationContextError(f"container_context.k8s.{key} must be a list")
    return value


def _mount_path(mount: Mapping[str, Any]) -> Any:
    # The chart writes camelCase (Kubernetes YAML); DagsterK8sJobConfig stores snake_case.
    return mount.get("mount_path", mount.get("mountPath"))


def encode_context(k8s: Mapping[str, Any]) -> str:
    return json.dumps(k8s, sort_keys=True, separators=(",", ":"))


def env_value(k8s: Mapping[str, Any]) -> str:
    """The context as the value of LOCATION_ENV_VAR in a pod spec. The kubelet expands $(NAME) in
    `env` values and turns $$ into $, so every $ is doubled: the container sees the JSON as is.
    """
    return encode_context(k8s).replace("$", "$$")


def context_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The context a run pod was launched with (empty when the variable is absent)."""
    raw = (os.environ if environ is None else environ).get(LOCATION_ENV_VAR)
    if not raw:
        return {}
    try:
        decoded = json.loads(raw)
    except ValueError as exc:
        raise LocationContextError(f"{LOCATION_ENV_VAR} is not JSON: {exc}") from exc
    # The variable holds the "k8s" part only; validate it the same way as an origin's.
    return location_k8s_context({"k8s": decoded})


def merge_location_context(
    config: DagsterK8sJobConfig, k8s: Mapping[str, Any], exc_config: Mapping[str, Any] | None = None
) -> DagsterK8sJobConfig:
    """config with the location context k8s applied (see the module docstring for the rules)."""
    if not k8s:
        return config
    exc_config = exc_config or {}

    def names(base: Sequence[str], extra: Sequence[str]) -> list[str]:
        out = list(base)
        for name in extra:
            if name not in out:
                out.append(name)
        return out

    volumes = list(config.volumes)
    taken = {v.get("name") for v in volumes}
    for volume in k8s.get("volumes", []):
        if volume["name"] not in taken:
            volumes.append(volume)
            taken.add(volume["name"])

    mounts = list(config.volume_mounts)
    paths = {_mount_path(m) for m in mounts}
    for mount in k8s.get("volume_mounts", []):
        path = _mount_path(mount)
        if path not in paths:
            mounts.append(mount)
            paths.add(path)

    env_vars = [v for v in config.env_vars if v.split("=", 1)[0] != LOCATION_ENV_VAR]
    env_vars.append(f"{LOCATION_ENV_VAR}={env_value(k8s)}")

    policy = config.image_pull_policy
    if not exc_config.get("image_pull_policy") and k8s.get("image_pull_policy"):
        policy = k8s["image_pull_policy"]

    fields = config._asdict()
    fields.update(
        env_config_maps=names(config.env_config_maps, k8s.get("env_config_maps", [])),
        env_secrets=names(config.env_secrets, k8s.get("env_secrets", [])),
        volumes=volumes,
        volume_mounts=mounts,
        env_vars=env_vars,
        image_pull_policy=policy,
    )
    # Built through the constructor (not _replace) so that camelCase volumes and mounts are
    # normalised the way Dagster normalises the launcher's own.
    return DagsterK8sJobConfig(**fields)


class LocationContextCeleryK8sRunLauncher(CeleryK8sRunLauncher):
    """CeleryK8sRunLauncher that applies each code location's k8s container context to its run
    and step pods. Configured like CeleryK8sRunLauncher; in addition it honours two fields of the
    shared K8sRunLauncher schema that CeleryK8sRunLauncher accepts in dagster.yaml but rejects
    when it is built (its __init__ has no such parameters): security_context (the container
    securityContext) and resources (container resources) of every run and step pod. Both travel
    with the job config the run pod hands to the Celery workers, so step pods get them too.
    """

    def __init__(self, *args, security_context=None, resources=None, **kwargs):
        # The chart writes Kubernetes' camelCase; construct_dagster_k8s_job wants the client
        # models' snake_case (a camelCase key fails every launch).
        self._security_context = (
            dict(k8s_snake_case_dict(kubernetes.client.V1SecurityContext, security_context))
            if security_context
            else {}
        )
        self._resources = (
            dict(k8s_snake_case_dict(kubernetes.client.V1ResourceRequirements, resources))
            if resources
            else {}
        )
        super().__init__(*args, **kwargs)

    def launch_run(self, context) -> None:
        origin = getattr(context, "job_code_origin", None)
        repository_origin = getattr(origin, "repository_origin", None)
        k8s = location_k8s_context(getattr(repository_origin, "container_context", None))
        # Set even when empty: a launch must never pick up the environment's context, which in a
        # run pod belongs to that run's location, not to the run being launched.
        token = _launching.set(k8s)
        try:
            super().launch_run(context)
        finally:
            _launching.reset(token)

    def get_k8s_job_config(self, job_image, exc_config):
        config = super().get_k8s_job_config(job_image, exc_config)
        if self._security_context or self._resources:
            config = config._replace(
                security_context=self._security_context or config.security_context,
                resources=self._resources or config.resources,
            )
        k8s = _launching.get()
        if k8s is None:
            k8s = context_from_env()
        return merge_location_context(config, k8s, exc_config)


# True while a StepIdentityK8sRunLauncher creates a run worker's Job in this context.
_launching_run: "contextvars.ContextVar[bool]" = contextvars.ContextVar(
    "dagster_dev_launching_run", default=False
)


class StepIdentityK8sRunLauncher(K8sRunLauncher):
    """K8sRunLauncher whose step pods run under their own ServiceAccount.

    With k8s_job_executor the run pod creates one Job per step, so its ServiceAccount must be
    allowed to create Jobs; the step pods, which run the user's ops, need no API access at all.
    dagster-k8s gives both the launcher's service_account_name: k8s_job_executor builds each step's
    pod from K8sContainerContext.create_for_run(run, instance.run_launcher), which reads this
    launcher's service_account_name in the run pod. This subclass answers with
    step_service_account_name there, and with service_account_name while it creates a run worker
    (launch_run and resume_run, in the daemon or Dagit). A code location's container context or a
    job's executor config that names a ServiceAccount still wins, as in dagster-k8s.
    Configured like K8sRunLauncher plus step_service_account_name (optional: without it, steps use
    service_account_name as in dagster-k8s).
    """

    def __init__(self, *args, step_service_account_name=None, **kwargs):
        self._step_service_account_name = step_service_account_name
        super().__init__(*args, **kwargs)

    @classmethod
    def config_type(cls):
        return merge_dicts(
            K8sRunLauncher.config_type(),
            {
                "step_service_account_name": Field(
                    StringSource,
                    is_required=False,
                    description="ServiceAccount of the step pods k8s_job_executor creates.",
                )
            },
        )

    @property
    def service_account_name(self) -> str:
        if _launching_run.get() or not self._step_service_account_name:
            return super().service_account_name
        return self._step_service_account_name

    def _launch_k8s_job_with_args(self, job_name, args, run) -> None:
        token = _launching_run.set(True)
        try:
            super()._launch_k8s_job_with_args(job_name, args, run)
        finally:
            _launching_run.reset(token)
