{{/*
dagster.yaml. Storage is PostgreSQL; runs go through the CeleryK8sRunLauncher: each run is a
Kubernetes Job whose executor (celery_k8s_job_executor) queues steps in Celery, and a worker starts
each step as a Job. The launcher's settings reach the run and the step Jobs alike.
With runLauncher.locationContext (default) the class is dagster_dev_launcher's
LocationContextCeleryK8sRunLauncher (files/dagster_dev_launcher.py, same config): it also applies the
location's DAGSTER_CONTAINER_CONTEXT (ConfigMaps, Secrets, volumes, pull policy) to the run and step
Jobs. Its module is mounted into every pod that builds the run launcher, run and step pods through
the volumes below.
*/}}
{{- define "dagster.postgresDb" -}}
postgres_db:
  username: {{ .Values.postgresql.postgresqlUsername | quote }}
  password:
    env: DAGSTER_PG_PASSWORD
  hostname: {{ include "dagster.postgresql.host" . | quote }}
  db_name: {{ .Values.postgresql.postgresqlDatabase | quote }}
  port: {{ .Values.postgresql.service.port }}
  scheme: {{ .Values.postgresql.postgresqlScheme | quote }}
  {{- with .Values.postgresql.postgresqlParams }}
  params:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/*
Job pods get their environment from the launcher: env_config_maps starts with the chart's
job-runner-env (values) followed by the user's ConfigMaps; env_secrets starts with the chart's broker
Secret (job pods need DAGSTER_CELERY_BROKER_URL and can only get it through envFrom) followed by
the user's Secrets, so every user ConfigMap/Secret still wins over the values, as in the seed chart.
DAGSTER_PG_PASSWORD comes from postgres_password_secret (Dagster adds it as a secretKeyRef).
*/}}
{{- define "dagster.launcher.envConfigMaps" -}}
- {{ include "dagster.jobRunnerEnv.name" . | quote }}
{{- range .Values.job_runner.env_config_maps }}
{{- if . }}
- {{ . | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "dagster.launcher.envSecrets" -}}
{{- if include "dagster.celery.enabled" . }}
- {{ include "dagster.broker.secretName" . | quote }}
{{- end }}
{{- range .Values.job_runner.env_secrets }}
{{- if . }}
- {{ . | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "dagster.instance.data" -}}
run_storage:
  module: dagster_postgres.run_storage
  class: PostgresRunStorage
  config:
    {{- include "dagster.postgresDb" . | nindent 4 }}
event_log_storage:
  module: dagster_postgres.event_log
  class: PostgresEventLogStorage
  config:
    {{- include "dagster.postgresDb" . | nindent 4 }}
schedule_storage:
  module: dagster_postgres.schedule_storage
  class: PostgresScheduleStorage
  config:
    {{- include "dagster.postgresDb" . | nindent 4 }}
run_coordinator:
  module: dagster._core.run_coordinator
{{- if .Values.daemon.enabled }}
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: {{ .Values.runCoordinator.maxConcurrentRuns }}
    {{- with .Values.runCoordinator.tagConcurrencyLimits }}
    tag_concurrency_limits:
      {{- toYaml . | nindent 6 }}
    {{- end }}
{{- else }}
  class: DefaultRunCoordinator
{{- end }}
run_launcher:
{{- include "dagster.runLauncher.instance" . | nindent 2 }}
compute_logs:
{{- include "dagster.computeLogs.instance" . | nindent 2 }}
{{- with .Values.runMonitoring }}
{{- if and .enabled $.Values.daemon.enabled }}
# Run monitoring (a daemon feature): a run whose pod does not start, or does not stop after a
# cancel, within the timeouts is marked failed; the run worker's Job is checked every poll interval.
run_monitoring:
  enabled: true
  start_timeout_seconds: {{ .startTimeoutSeconds }}
  cancel_timeout_seconds: {{ .cancelTimeoutSeconds }}
  max_runtime_seconds: {{ .maxRuntimeSeconds }}
  poll_interval_seconds: {{ .pollIntervalSeconds }}
  {{- if include "dagster.celery.enabled" $ }}
  # A run worker that dies is not resumed: the CeleryK8sRunLauncher cannot resume runs.
  max_resume_run_attempts: 0
  {{- else }}
  max_resume_run_attempts: {{ .maxResumeRunAttempts | default 0 }}
  {{- end }}
{{- end }}
{{- end }}
{{- with .Values.runRetries }}
{{- if and .enabled $.Values.daemon.enabled }}
# Failed runs are re-launched (a daemon feature) up to max_retries times, or as often as a run's
# dagster/max_retries tag says.
run_retries:
  enabled: true
  max_retries: {{ .maxRetries }}
  retry_on_asset_or_op_failure: {{ .retryOnAssetOrOpFailure }}
{{- end }}
{{- end }}
telemetry:
  enabled: {{ .Values.telemetry.enabled }}
{{- end -}}

{{/* celery.yaml, read by `dagster-celery worker start -y`: the same block as the executor's config. */}}
{{- define "dagster.celery.data" -}}
execution:
  config:
    broker:
      env: DAGSTER_CELERY_BROKER_URL
    backend: {{ .Values.celery.backend | quote }}
    {{- with .Values.celery.configSource }}
    config_source:
      {{- toYaml . | nindent 6 }}
    {{- end }}
{{- end -}}

{{- define "dagster.workspace.data" -}}
{{- if not (or (include "dagster.userCode.enabled" .) .Values.userDeployments) -}}
# No code location yet (userDeployments, or userCode.example.enabled / pythonFile / moduleName).
load_from: []
{{- else -}}
load_from:
{{- end }}
{{- if include "dagster.userCode.enabled" . }}
  - grpc_server:
      host: {{ include "dagster.userCode.name" . | quote }}
      port: {{ .Values.userCode.port }}
      location_name: {{ .Values.userCode.locationName | quote }}
{{- end }}
{{- range .Values.userDeployments }}
  - grpc_server:
      host: {{ include "dagster.codeServer.name" (dict "ctx" $ "name" .name) | quote }}
      port: {{ .port | default 3030 }}
      location_name: {{ .name | quote }}
{{- end }}
{{- end -}}

{{- define "dagster.example.data" -}}
{{ include "dagster.example.file" . }}: |
{{ .Files.Get "files/dagster_dev_example.py" | indent 2 }}
{{- end -}}

{{/* The run launcher section of dagster.yaml (without its key), for runLauncher.type. */}}
{{- define "dagster.runLauncher.instance" -}}
{{- if include "dagster.celery.enabled" . -}}
{{ include "dagster.runLauncher.celery" . }}
{{- else -}}
{{ include "dagster.runLauncher.k8s" . }}
{{- end -}}
{{- end -}}

{{- define "dagster.runLauncher.celery" -}}
{{- if include "dagster.lib.enabled" . }}
module: dagster_dev_launcher
class: LocationContextCeleryK8sRunLauncher
{{- else }}
module: dagster_celery_k8s
class: CeleryK8sRunLauncher
{{- end }}
config:
  instance_config_map: {{ include "dagster.instance.name" . | quote }}
  dagster_home: {{ include "dagster.jobRunner.dagsterHome" . | quote }}
  postgres_password_secret: {{ include "dagster.postgresql.secretName" . | quote }}
  broker:
    env: DAGSTER_CELERY_BROKER_URL
  backend: {{ .Values.celery.backend | quote }}
  {{- with .Values.celery.configSource }}
  config_source:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  job_namespace: {{ .Release.Namespace | quote }}
  service_account_name: {{ include "dagster.runServiceAccountName" . | quote }}
  image_pull_policy: {{ .Values.imagePullPolicy | quote }}
  labels:
    {{ include "dagster.runPodLabel" . }}: {{ .Release.Name | quote }}
  {{- with .Values.imagePullSecrets }}
  image_pull_secrets:
    {{- range . }}
    - name: {{ . | quote }}
    {{- end }}
  {{- end }}
  env_config_maps:
    {{- include "dagster.launcher.envConfigMaps" . | nindent 4 }}
  env_secrets:
    {{- include "dagster.launcher.envSecrets" . | nindent 4 }}
  {{- if include "dagster.lib.enabled" . }}
  {{- with include "dagster.runPod.securityContext" . }}
  security_context:
    {{- . | nindent 4 }}
  {{- end }}
  {{- with .Values.runLauncher.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- end }}
  {{- include "dagster.launcher.volumes" . | nindent 2 }}
{{- end -}}

{{/*
K8sRunLauncher: each run a Job; the run pod's k8s_job_executor starts a Job per step. The class is
dagster-dev's StepIdentityK8sRunLauncher (files/dagster_dev_launcher.py): step pods get
runLauncher.stepServiceAccount, the run pod (which creates the step Jobs) the run ServiceAccount.
dagster-k8s applies each code location's DAGSTER_CONTAINER_CONTEXT itself. run_k8s_config reaches
the run pod and, through the run's container context, every step pod: the pod-level and container
securityContext and the resources (dagster-k8s normalises its camelCase).
*/}}
{{- define "dagster.runLauncher.k8s" -}}
module: dagster_dev_launcher
class: StepIdentityK8sRunLauncher
config:
  instance_config_map: {{ include "dagster.instance.name" . | quote }}
  dagster_home: {{ include "dagster.jobRunner.dagsterHome" . | quote }}
  postgres_password_secret: {{ include "dagster.postgresql.secretName" . | quote }}
  job_namespace: {{ .Release.Namespace | quote }}
  service_account_name: {{ include "dagster.runServiceAccountName" . | quote }}
  step_service_account_name: {{ include "dagster.stepServiceAccountName" . | quote }}
  image_pull_policy: {{ .Values.imagePullPolicy | quote }}
  labels:
    {{ include "dagster.runPodLabel" . }}: {{ .Release.Name | quote }}
  {{- with .Values.imagePullSecrets }}
  image_pull_secrets:
    {{- range . }}
    - name: {{ . | quote }}
    {{- end }}
  {{- end }}
  env_config_maps:
    {{- include "dagster.launcher.envConfigMaps" . | nindent 4 }}
  {{- with include "dagster.launcher.envSecrets" . }}
  env_secrets:
    {{- . | nindent 4 }}
  {{- end }}
  {{- $pod := include "dagster.mergeSecurity" (dict "shared" .Values.podSecurityContext "own" .Values.runLauncher.podSecurityContext) }}
  {{- $container := include "dagster.mergeSecurity" (dict "shared" .Values.securityContext "own" .Values.runLauncher.securityContext) }}
  {{- if or $pod $container .Values.runLauncher.resources }}
  run_k8s_config:
    {{- with $pod }}
    pod_spec_config:
      securityContext:
        {{- . | nindent 8 }}
    {{- end }}
    {{- if or $container .Values.runLauncher.resources }}
    container_config:
      {{- with $container }}
      securityContext:
        {{- . | nindent 8 }}
      {{- end }}
      {{- with .Values.runLauncher.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- end }}
  {{- end }}
  {{- include "dagster.launcher.volumes" . | nindent 2 }}
{{- end -}}

{{/*
The volumes and mounts of every run and step pod, with either launcher: the launcher's module
first (always there with the K8sRunLauncher, see dagster.lib.enabled); then a writable DAGSTER_HOME
(local artifacts, the default io manager's storage; Dagster mounts dagster.yaml into it) and /tmp
under a read-only root filesystem; the compute logs; the bundled example.
*/}}
{{- define "dagster.launcher.volumes" -}}
volumes:
  {{- if include "dagster.lib.enabled" . }}
  {{- include "dagster.lib.volume" . | nindent 2 }}
  {{- end }}
  - name: dagster-home
    emptyDir: {}
  - name: tmp
    emptyDir: {}
  {{- if include "dagster.computeLogs.enabled" . }}
  {{- include "dagster.computeLogs.volume" . | nindent 2 }}
  {{- end }}
  {{- if .Values.userCode.example.enabled }}
  - name: dagster-dev-example
    configMap:
      name: {{ include "dagster.example.name" . | quote }}
  {{- end }}
volume_mounts:
  {{- if include "dagster.lib.enabled" . }}
  {{- include "dagster.lib.volumeMount" . | nindent 2 }}
  {{- end }}
  - name: dagster-home
    mountPath: {{ include "dagster.jobRunner.dagsterHome" . | quote }}
  - name: tmp
    mountPath: /tmp
  {{- if include "dagster.computeLogs.enabled" . }}
  {{- include "dagster.computeLogs.volumeMount" . | nindent 2 }}
  {{- end }}
  {{- if .Values.userCode.example.enabled }}
  - name: dagster-dev-example
    mountPath: {{ include "dagster.example.dir" . | quote }}
    readOnly: true
  {{- end }}
{{- end -}}
