"""Tests of dagster_dev_launcher (the chart's run launcher) against the real dagster-celery-k8s.

No cluster: the Kubernetes batch API is a mock that records the Jobs it is asked to create.
"""

import json
import os
import re
import threading
from types import SimpleNamespace
from unittest import mock

import pytest
import yaml
from dagster import DagsterInstance
from dagster._config import process_config, resolve_to_config_type
from dagster._core.code_pointer import ModuleCodePointer
from dagster._core.instance.config import dagster_instance_config
from dagster._core.launcher import LaunchRunContext, RunLauncher
from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.test_utils import instance_for_test
from dagster._serdes import ConfigurableClassData
from dagster_celery_k8s import CeleryK8sRunLauncher
from dagster_celery_k8s.config import celery_k8s_executor_config
from dagster_celery_k8s.executor import celery_k8s_job_executor
from dagster_k8s.job import DagsterK8sJobConfig, construct_dagster_k8s_job

import dagster_dev_launcher as ddl
from dagster_dev_launcher import LOCATION_ENV_VAR, LocationContextCeleryK8sRunLauncher

MODULE = "dagster_dev_launcher"
CLASS = "LocationContextCeleryK8sRunLauncher"
LIB_DIR = "/opt/dagster/dagster-dev-lib"

KUBECONFIG = """
apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: fake, user: {token: fake}}]
contexts: [{name: fake, context: {cluster: fake, user: fake}}]
current-context: fake
"""


@pytest.fixture
def kubeconfig(tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    return str(path)


def launcher_config(kubeconfig):
    """A launcher config shaped like the chart's (release "dagster", job_runner layers set)."""
    return {
        "instance_config_map": "dagster-instance",
        "dagster_home": "/opt/dagster/dagster_home",
        "postgres_password_secret": "dagster-postgresql",
        "load_incluster_config": False,
        "kubeconfig_file": kubeconfig,
        "broker": "pyamqp://guest@broker//",
        "backend": "rpc://",
        "job_namespace": "dagster",
        "service_account_name": "dagster",
        "image_pull_policy": "IfNotPresent",
        "env_config_maps": ["dagster-job-runner-env", "shared-config"],
        "env_secrets": ["dagster-rabbitmq-broker", "shared-secret"],
        "volumes": [{"name": "dagster-dev-lib", "configMap": {"name": "dagster-dagster-dev-lib"}}],
        "volume_mounts": [{"name": "dagster-dev-lib", "mountPath": LIB_DIR, "readOnly": True}],
    }


# A location's DAGSTER_CONTAINER_CONTEXT as the chart renders it: the shared job_runner layer again
# (already in the launcher config), then the location's own, plus one name repeated, a volume whose
# name and a mount whose path the launcher already uses.
LOCATION_CONTEXT = {
    "k8s": {
        "image_pull_policy": "Never",
        "env_config_maps": [
            "dagster-job-runner-env",
            "shared-config",
            "dagster-code-analytics-env",
            "analytics-config",
            "shared-config",
        ],
        "env_secrets": ["shared-secret", "analytics-credentials", ""],
        "volumes": [
            {"name": "settings", "configMap": {"name": "analytics-settings"}},
            {"name": "dagster-dev-lib", "emptyDir": {}},
            {"name": "code", "hostPath": {"path": "/code/analytics", "type": "Directory"}},
        ],
        "volume_mounts": [
            {"name": "settings", "mountPath": "/etc/analytics", "readOnly": True},
            {"name": "code", "mountPath": LIB_DIR},
            {"name": "code", "mountPath": "/app"},
        ],
        # Not applied by this launcher (only the keys above are).
        "env_vars": ["IGNORED=1"],
    }
}

WANT_CONFIG_MAPS = [
    "dagster-job-runner-env",
    "shared-config",
    "dagster-code-analytics-env",
    "analytics-config",
]
WANT_SECRETS = ["dagster-rabbitmq-broker", "shared-secret", "analytics-credentials"]
WANT_VOLUMES = ["dagster-dev-lib", "settings", "code"]
WANT_MOUNTS = [LIB_DIR, "/etc/analytics", "/app"]


def make_launcher(kubeconfig, cls=LocationContextCeleryK8sRunLauncher):
    return cls(**launcher_config(kubeconfig))


def names(items):
    return [item["name"] for item in items]


def mount_paths(mounts):
    return [m.get("mount_path", m.get("mountPath")) for m in mounts]


def kubelet_env(env_value):
    """What a container sees for an `env` value: the kubelet turns $$ into $."""
    return re.sub(r"\$\$", "$", env_value)


def env_of(config):
    return dict(v.split("=", 1) for v in config.env_vars)


# ------------------------------------------------------------------ the class itself


def test_is_a_celery_k8s_run_launcher_with_the_same_config_schema():
    assert issubclass(LocationContextCeleryK8sRunLauncher, CeleryK8sRunLauncher)
    # Inherited, not redefined: the instance validates the chart's config with the parent's schema
    # (__init__ is the subclass's own: it takes security_context and resources, see below).
    for name in ("config_type", "from_config_value"):
        assert name not in LocationContextCeleryK8sRunLauncher.__dict__, name
    assert (
        resolve_to_config_type(LocationContextCeleryK8sRunLauncher.config_type()).key
        == resolve_to_config_type(CeleryK8sRunLauncher.config_type()).key
    )
    assert (
        LocationContextCeleryK8sRunLauncher.from_config_value.__func__
        is CeleryK8sRunLauncher.from_config_value.__func__
    )


def test_from_config_value_builds_the_subclass(kubeconfig):
    launcher = LocationContextCeleryK8sRunLauncher.from_config_value(None, launcher_config(kubeconfig))
    assert type(launcher) is LocationContextCeleryK8sRunLauncher
    assert launcher.job_namespace == "dagster"


# ------------------------------------------------------------------ parsing and merging


def test_location_k8s_context_keeps_order_and_drops_duplicates_and_empties():
    got = ddl.location_k8s_context(LOCATION_CONTEXT)
    assert got["env_config_maps"] == [
        "dagster-job-runner-env",
        "shared-config",
        "dagster-code-analytics-env",
        "analytics-config",
    ]
    assert got["env_secrets"] == ["shared-secret", "analytics-credentials"]
    assert got["image_pull_policy"] == "Never"
    assert "env_vars" not in got
    assert ddl.location_k8s_context(None) == {}
    assert ddl.location_k8s_context({}) == {}
    assert ddl.location_k8s_context({"docker": {"env_vars": ["A=1"]}}) == {}


@pytest.mark.parametrize(
    "bad",
    [
        {"k8s": ["env_config_maps"]},
        {"k8s": {"env_config_maps": "one-name"}},
        {"k8s": {"env_secrets": [1]}},
        {"k8s": {"volumes": [{"configMap": {"name": "x"}}]}},
        {"k8s": {"volume_mounts": ["x"]}},
        {"k8s": {"image_pull_policy": 3}},
    ],
)
def test_location_k8s_context_rejects_bad_shapes(bad):
    with pytest.raises(ddl.LocationContextError):
        ddl.location_k8s_context(bad)


def test_no_context_gives_exactly_the_parents_config(kubeconfig):
    ours = make_launcher(kubeconfig)
    plain = make_launcher(kubeconfig, CeleryK8sRunLauncher)
    for exc_config in ({}, {"image_pull_policy": "Always", "env_config_maps": ["run-cm"]}):
        want = plain.get_k8s_job_config("img:1", exc_config)
        assert ours.get_k8s_job_config("img:1", exc_config) == want
        # A launch whose location has no context behaves the same.
        token = ddl._launching.set({})
        try:
            assert ours.get_k8s_job_config("img:1", exc_config) == want
        finally:
            ddl._launching.reset(token)


def test_merge_order_and_deduplication(kubeconfig):
    launcher = make_launcher(kubeconfig)
    k8s = ddl.location_k8s_context(LOCATION_CONTEXT)
    token = ddl._launching.set(k8s)
    try:
        config = launcher.get_k8s_job_config("img:1", {"env_config_maps": ["run-cm"]})
    finally:
        ddl._launching.reset(token)
    # The executor config's ConfigMaps, then the launcher's (job_runner), then the location's.
    assert config.env_config_maps == ["run-cm", *WANT_CONFIG_MAPS]
    assert config.env_secrets == WANT_SECRETS
    assert names(config.volumes) == WANT_VOLUMES
    # The launcher's dagster-dev-lib volume (a ConfigMap) wins over the location's of that name.
    assert config.volumes[0]["config_map"] == {"name": "dagster-dagster-dev-lib"}
    # camelCase from the chart is normalised like Dagster's own volumes.
    assert config.volumes[2] == {
        "name": "code",
        "host_path": {"path": "/code/analytics", "type": "Directory"},
    }
    assert mount_paths(config.volume_mounts) == WANT_MOUNTS
    assert config.volume_mounts[0]["name"] == "dagster-dev-lib"
    assert config.image_pull_policy == "Never"
    assert json.loads(env_of(config)[LOCATION_ENV_VAR]) == k8s
    # Everything else is the parent's.
    plain = make_launcher(kubeconfig, CeleryK8sRunLauncher).get_k8s_job_config(
        "img:1", {"env_config_maps": ["run-cm"]}
    )
    for field in ("job_image", "dagster_home", "service_account_name", "instance_config_map",
                  "postgres_password_secret", "image_pull_secrets", "labels", "resources"):
        assert getattr(config, field) == getattr(plain, field), field


def test_executor_pull_policy_wins_over_the_locations(kubeconfig):
    launcher = make_launcher(kubeconfig)
    token = ddl._launching.set(ddl.location_k8s_context(LOCATION_CONTEXT))
    try:
        assert launcher.get_k8s_job_config("i", {"image_pull_policy": "Always"}).image_pull_policy == "Always"
        assert launcher.get_k8s_job_config("i", {}).image_pull_policy == "Never"
    finally:
        ddl._launching.reset(token)


def test_dollar_signs_survive_the_kubelet():
    k8s = {"volume_mounts": [{"name": "v", "mountPath": "/data/$(HOME)/x$$y"}], "volumes": [{"name": "v", "emptyDir": {}}]}
    config = ddl.merge_location_context(DagsterK8sJobConfig(job_image="i"), k8s)
    seen = kubelet_env(env_of(config)[LOCATION_ENV_VAR])
    assert ddl.context_from_env({LOCATION_ENV_VAR: seen}) == k8s


def test_bad_env_value_fails_loudly():
    with pytest.raises(ddl.LocationContextError):
        ddl.context_from_env({LOCATION_ENV_VAR: "{not json"})
    assert ddl.context_from_env({}) == {}


# ------------------------------------------------------------------ launch_run and the run pod


def make_run(container_context, run_config=None, image="my/analytics:dev"):
    origin = JobPythonOrigin(
        "probe",
        RepositoryPythonOrigin(
            executable_path="/usr/local/bin/python",
            code_pointer=ModuleCodePointer("analytics.definitions", "defs", "/app"),
            container_image=image,
            container_context=container_context,
        ),
    )
    return DagsterRun(job_name="probe", run_config=run_config or {}, job_code_origin=origin)


@pytest.fixture
def instance(kubeconfig):
    overrides = {
        "run_launcher": {"module": MODULE, "class": CLASS, "config": launcher_config(kubeconfig)}
    }
    with instance_for_test(overrides=overrides) as inst:
        launcher = inst.run_launcher
        launcher._api_client.batch_api = mock.MagicMock()  # noqa: SLF001
        yield inst


def created_jobs(instance):
    calls = instance.run_launcher._api_client.batch_api.create_namespaced_job.call_args_list  # noqa: SLF001
    return [c.kwargs["body"] for c in calls]


def pod_env_from(job):
    out = []
    for source in job.spec.template.spec.containers[0].env_from:
        if source.config_map_ref:
            out.append("configMap:" + source.config_map_ref.name)
        else:
            out.append("secret:" + source.secret_ref.name)
    return out


def pod_env(job):
    return {e.name: e.value for e in job.spec.template.spec.containers[0].env}


def launch(instance, container_context, run_config=None):
    run = instance.add_run(make_run(container_context, run_config))
    instance.run_launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
    return created_jobs(instance)[-1]


WANT_ENV_FROM = [f"configMap:{n}" for n in WANT_CONFIG_MAPS] + [f"secret:{n}" for n in WANT_SECRETS]


def test_instance_builds_the_subclass(instance):
    assert type(instance.run_launcher) is LocationContextCeleryK8sRunLauncher


def test_launch_run_applies_the_location_to_the_run_pod(instance, kubeconfig):
    job = launch(instance, LOCATION_CONTEXT)
    spec = job.spec.template.spec
    container = spec.containers[0]
    assert container.image == "my/analytics:dev"
    assert pod_env_from(job) == WANT_ENV_FROM
    assert [v.name for v in spec.volumes] == WANT_VOLUMES
    assert [m.mount_path for m in container.volume_mounts] == WANT_MOUNTS
    assert container.image_pull_policy == "Never"
    env = pod_env(job)
    assert json.loads(kubelet_env(env[LOCATION_ENV_VAR])) == ddl.location_k8s_context(LOCATION_CONTEXT)
    # The chart-owned variables Dagster adds are still there.
    assert env["DAGSTER_HOME"] == "/opt/dagster/dagster_home"
    assert "DAGSTER_PG_PASSWORD" in env
    # Nothing is left behind for the next launch or for get_k8s_job_config outside a launch.
    assert ddl._launching.get() is None
    after = instance.run_launcher.get_k8s_job_config("i", {})
    assert after.env_config_maps == launcher_config(kubeconfig)["env_config_maps"]
    assert LOCATION_ENV_VAR not in env_of(after)


def test_launch_run_without_context_is_the_parents(instance, kubeconfig):
    job = launch(instance, None)
    plain = launcher_config(kubeconfig)
    assert pod_env_from(job) == [f"configMap:{n}" for n in plain["env_config_maps"]] + [
        f"secret:{n}" for n in plain["env_secrets"]
    ]
    assert [v.name for v in job.spec.template.spec.volumes] == ["dagster-dev-lib"]
    assert job.spec.template.spec.containers[0].image_pull_policy == "IfNotPresent"
    assert LOCATION_ENV_VAR not in pod_env(job)


def test_launch_ignores_the_environment_context(instance, monkeypatch):
    # A run pod that launches another run (DefaultRunCoordinator) must not hand its own location's
    # context to a run of another location.
    monkeypatch.setenv(LOCATION_ENV_VAR, ddl.encode_context(ddl.location_k8s_context(LOCATION_CONTEXT)))
    job = launch(instance, None)
    assert "configMap:analytics-config" not in pod_env_from(job)
    assert LOCATION_ENV_VAR not in pod_env(job)


def test_run_pod_round_trip_to_step_jobs(instance, monkeypatch):
    """The run pod's celery_k8s_job_executor gets the location's config from the environment, and
    the step Jobs a Celery worker builds from it carry the same ConfigMaps, Secrets and volumes."""
    run_config = {"execution": {"config": {"job_namespace": "dagster"}}}
    run_job = launch(instance, LOCATION_CONTEXT, run_config)
    # In the run pod: the variable as the container sees it; the instance comes from the ref.
    monkeypatch.setenv(LOCATION_ENV_VAR, kubelet_env(pod_env(run_job)[LOCATION_ENV_VAR]))
    monkeypatch.setenv("DAGSTER_CURRENT_IMAGE", "my/analytics:dev")
    run_pod_instance = DagsterInstance.from_ref(instance.get_ref())
    assert type(run_pod_instance.run_launcher) is LocationContextCeleryK8sRunLauncher
    executor_config = process_config(
        resolve_to_config_type(celery_k8s_executor_config()),
        {"job_namespace": "dagster", "load_incluster_config": False},
    ).value
    executor = celery_k8s_job_executor.executor_creation_fn(
        SimpleNamespace(instance=run_pod_instance, executor_config=executor_config)
    )
    job_config = executor.job_config
    assert job_config.job_image == "my/analytics:dev"
    assert job_config.env_config_maps == WANT_CONFIG_MAPS
    assert job_config.env_secrets == WANT_SECRETS
    assert names(job_config.volumes) == WANT_VOLUMES
    assert mount_paths(job_config.volume_mounts) == WANT_MOUNTS
    assert job_config.image_pull_policy == "Never"
    # The Celery task carries the config as JSON; the worker rebuilds it and creates the step Job.
    step_config = DagsterK8sJobConfig.from_dict(json.loads(json.dumps(job_config.to_dict())))
    step_job = construct_dagster_k8s_job(step_config, ["dagster", "api", "execute_step"], "dagster-step-x")
    assert pod_env_from(step_job) == pod_env_from(run_job) == WANT_ENV_FROM
    assert [v.name for v in step_job.spec.template.spec.volumes] == WANT_VOLUMES
    assert [m.mount_path for m in step_job.spec.template.spec.containers[0].volume_mounts] == WANT_MOUNTS
    assert step_job.spec.template.spec.containers[0].image_pull_policy == "Never"
    assert kubelet_env(pod_env(step_job)[LOCATION_ENV_VAR]) == kubelet_env(pod_env(run_job)[LOCATION_ENV_VAR])


def test_concurrent_launches_keep_their_own_location(instance):
    """Two launches interleaved inside get_k8s_job_config each get their own location's config."""
    barrier = threading.Barrier(2, timeout=10)
    parent = CeleryK8sRunLauncher.get_k8s_job_config

    def slow_parent(self, job_image, exc_config):
        config = parent(self, job_image, exc_config)
        barrier.wait()  # both launches are now inside get_k8s_job_config
        return config

    contexts = {
        "a": {"k8s": {"env_config_maps": ["cm-a"], "env_secrets": ["secret-a"]}},
        "b": {"k8s": {"env_config_maps": ["cm-b"], "env_secrets": ["secret-b"]}},
    }
    runs = {key: instance.add_run(make_run(ctx)) for key, ctx in contexts.items()}
    errors = []

    def run(key):
        try:
            instance.run_launcher.launch_run(LaunchRunContext(dagster_run=runs[key], workspace=None))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    with mock.patch.object(CeleryK8sRunLauncher, "get_k8s_job_config", slow_parent):
        threads = [threading.Thread(target=run, args=(key,)) for key in contexts]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors
    by_run = {job.metadata.labels["dagster/run-id"]: job for job in created_jobs(instance)}
    for key in contexts:
        env_from = pod_env_from(by_run[runs[key].run_id])
        other = "b" if key == "a" else "a"
        assert f"configMap:cm-{key}" in env_from and f"secret:secret-{key}" in env_from
        assert f"configMap:cm-{other}" not in env_from


# ------------------------------------------------------------------ the chart's rendered config

RENDERED = os.environ.get("DAGSTER_DEV_RENDERED_DIR")


def rendered_cases():
    if not RENDERED:
        return []
    return sorted(d for d in os.listdir(RENDERED) if os.path.isdir(os.path.join(RENDERED, d)))


@pytest.mark.skipif(not RENDERED, reason="DAGSTER_DEV_RENDERED_DIR unset (the Go test sets it)")
@pytest.mark.parametrize("case", rendered_cases())
def test_rendered_instance_config(case, kubeconfig, monkeypatch):
    """The chart's dagster.yaml passes Dagster's instance schema, and its run_launcher section
    builds the launcher it names; with a location context (the code server's rendered
    DAGSTER_CONTAINER_CONTEXT) the job config holds the launcher's layers, then the location's."""
    case_dir = os.path.join(RENDERED, case)
    with open(os.path.join(case_dir, "expect.json")) as f:
        expect = json.load(f)
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "not-used")
    monkeypatch.setenv("DAGSTER_CELERY_BROKER_URL", "pyamqp://u:p@broker:5672//")
    config, _ = dagster_instance_config(case_dir)
    section = config["run_launcher"]
    assert (section["module"], section["class"]) == (expect["module"], expect["class"])
    launcher_cfg = dict(section["config"])
    # The only change: no in-cluster credentials here.
    launcher_cfg.update(load_incluster_config=False, kubeconfig_file=kubeconfig)
    launcher = ConfigurableClassData(
        section["module"], section["class"], yaml.safe_dump(launcher_cfg)
    ).rehydrate(as_type=RunLauncher)
    if expect["class"] == "StepIdentityK8sRunLauncher":
        check_rendered_k8s_launcher(launcher, case_dir, expect)
        return
    assert isinstance(launcher, CeleryK8sRunLauncher)
    assert type(launcher).__name__ == expect["class"]
    base = launcher.get_k8s_job_config("img", {})
    assert mount_paths(base.volume_mounts) == expect["mounts"]
    ctx_path = os.path.join(case_dir, "container_context.json")
    if not os.path.exists(ctx_path):
        return
    with open(ctx_path) as f:
        container_context = json.load(f)
    if not isinstance(launcher, LocationContextCeleryK8sRunLauncher):
        return
    token = ddl._launching.set(ddl.location_k8s_context(container_context))
    try:
        config = launcher.get_k8s_job_config("img", {})
    finally:
        ddl._launching.reset(token)
    assert config.env_config_maps == expect["env_config_maps"]
    assert config.env_secrets == expect["env_secrets"]
    assert names(config.volumes) == expect["volumes"]


# ------------------------------------------------------------------ security_context and resources

HARDENED = {
    "runAsNonRoot": True,
    "runAsUser": 1001,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}


def test_the_parent_rejects_security_context_the_subclass_takes_it(kubeconfig):
    config = dict(launcher_config(kubeconfig), security_context=HARDENED, resources=RESOURCES)
    # The shared schema accepts both keys, so the instance validates them ...
    assert process_config(resolve_to_config_type(CeleryK8sRunLauncher.config_type()), config).success
    # ... but dagster-celery-k8s' constructor does not take them.
    with pytest.raises(TypeError):
        CeleryK8sRunLauncher(**config)
    launcher = LocationContextCeleryK8sRunLauncher.from_config_value(None, config)
    job_config = launcher.get_k8s_job_config("img:1", {})
    # In the client models' snake_case, which construct_dagster_k8s_job needs.
    assert job_config.security_context["run_as_user"] == 1001
    assert job_config.security_context["seccomp_profile"] == {"type": "RuntimeDefault"}
    assert job_config.resources == RESOURCES


def test_run_and_step_pods_get_the_security_context_and_resources(kubeconfig):
    launcher = LocationContextCeleryK8sRunLauncher(
        **dict(launcher_config(kubeconfig), security_context=HARDENED, resources=RESOURCES)
    )
    token = ddl._launching.set(ddl.location_k8s_context(LOCATION_CONTEXT))
    try:
        run_config = launcher.get_k8s_job_config("img:1", {})
    finally:
        ddl._launching.reset(token)
    # The run pod ...
    job = construct_dagster_k8s_job(run_config, ["dagster", "api"], "run-job")
    container = job.spec.template.spec.containers[0]
    assert container.security_context.run_as_user == 1001
    assert container.security_context.read_only_root_filesystem is True
    assert container.security_context.capabilities.drop == ["ALL"]
    assert container.resources.limits == {"memory": "1Gi"}
    # ... and the step pods: the executor in the run pod sends the job config to the workers as a
    # dict, and they rebuild it.
    step_config = DagsterK8sJobConfig.from_dict(run_config.to_dict())
    step = construct_dagster_k8s_job(step_config, ["dagster", "api"], "step-job").spec.template.spec.containers[0]
    assert step.security_context.run_as_non_root is True
    assert step.resources.requests == {"cpu": "100m", "memory": "256Mi"}


def test_without_security_context_the_config_is_the_parents(kubeconfig):
    ours = make_launcher(kubeconfig)
    plain = make_launcher(kubeconfig, CeleryK8sRunLauncher)
    assert ours.get_k8s_job_config("img:1", {}) == plain.get_k8s_job_config("img:1", {})


# ------------------------------------------------------------------ StepIdentityK8sRunLauncher


def check_rendered_k8s_launcher(launcher, case_dir, expect):
    """The chart's K8sRunLauncher section: run pods under the run ServiceAccount, step pods (built by
    k8s_job_executor in the run pod from the run's container context) under the step one, both with
    the location's ConfigMaps/Secrets and the hardened securityContext and resources."""
    from dagster_k8s import K8sRunLauncher
    from dagster_k8s.container_context import K8sContainerContext

    assert isinstance(launcher, K8sRunLauncher)
    with open(os.path.join(case_dir, "container_context.json")) as f:
        run = make_run(json.load(f))

    # In the run pod (no launch in progress): what k8s_job_executor builds each step from.
    step = K8sContainerContext.create_for_run(run, launcher, include_run_tags=False)
    # dagster-k8s keeps the ServiceAccount in the pod spec part of run_k8s_config.
    assert step.run_k8s_config.pod_spec_config["service_account_name"] == expect["step_service_account"]
    job = construct_dagster_k8s_job(
        step.get_k8s_job_config("img", launcher), ["dagster", "api"], "step-job",
        user_defined_k8s_config=step.run_k8s_config,
    )
    pod = job.spec.template.spec
    assert pod.service_account_name == expect["step_service_account"]
    assert pod.security_context.fs_group == 1001 and pod.security_context.run_as_non_root
    container = pod.containers[0]
    config_maps = [e.config_map_ref.name for e in container.env_from if e.config_map_ref]
    secrets = [e.secret_ref.name for e in container.env_from if e.secret_ref]
    assert sorted(config_maps) == sorted(expect["env_config_maps"])
    assert sorted(secrets) == sorted(expect["env_secrets"])
    assert container.security_context.read_only_root_filesystem is True
    assert container.security_context.capabilities.drop == ["ALL"]
    assert container.resources.limits["memory"] == "2Gi"

    # While the launcher creates the run worker's Job (launch_run and resume_run both come here).
    seen = {}

    def capture(self, job_name, args, run):
        seen["sa"] = self.service_account_name
        seen["context_sa"] = self.get_container_context_for_run(run).run_k8s_config.pod_spec_config[
            "service_account_name"
        ]

    with mock.patch.object(K8sRunLauncher, "_launch_k8s_job_with_args", capture):
        launcher._launch_k8s_job_with_args("dagster-run-x", ["dagster"], run)
    assert seen == {"sa": expect["run_service_account"], "context_sa": expect["run_service_account"]}
    # And afterwards steps get theirs again.
    assert launcher.service_account_name == expect["step_service_account"]


def test_step_identity_without_a_step_account_is_plain_k8s(kubeconfig):
    from dagster_dev_launcher import StepIdentityK8sRunLauncher

    launcher = StepIdentityK8sRunLauncher(
        instance_config_map="dagster-instance",
        dagster_home="/opt/dagster/dagster_home",
        postgres_password_secret="dagster-postgresql",
        service_account_name="dagster-run",
        load_incluster_config=False,
        kubeconfig_file=kubeconfig,
        job_namespace="dagster",
    )
    assert launcher.service_account_name == "dagster-run"
