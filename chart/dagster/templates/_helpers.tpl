{{/*
Names. Every object is named <fullname>-<component>, where fullname is the release name (or
fullnameOverride), so the release "dagster" gets the seed chart's names (dagster-instance,
dagster-dagit-env, ...). Names are cut to 63 characters because Services must be DNS labels.
*/}}
{{- define "dagster.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "dagster.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* (dict "ctx" $ "suffix" "dagit") -> <fullname>-dagit */}}
{{- define "dagster.componentName" -}}
{{- printf "%s-%s" (include "dagster.fullname" .ctx) .suffix | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "dagster.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "dagster.labels" -}}
helm.sh/chart: {{ include "dagster.chart" . }}
app.kubernetes.io/name: {{ include "dagster.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/*
Selector labels of one component: (dict "ctx" $ "component" "dagit"). The component label keeps
the Dagit Service from selecting other pods; Dagster's own job pods carry name/instance "dagster"
too but the components run_worker/step_worker, so they match no selector here either.
*/}}
{{- define "dagster.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dagster.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "dagster.componentLabels" -}}
{{ include "dagster.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "dagster.serviceAccountName" -}}
{{- include "dagster.serviceAccount.pick" (dict "sa" .Values.serviceAccount "default" (include "dagster.fullname" .) "key" "serviceAccount") -}}
{{- end -}}

{{/*
A ServiceAccount's name from its values {create, name}: the default when the chart creates it, else
the required name of an existing one. (dict "sa" <values> "default" <name> "key" <values key>)
*/}}
{{- define "dagster.serviceAccount.pick" -}}
{{- if .sa.create -}}
{{- default .default .sa.name -}}
{{- else -}}
{{- required (printf "%s.name is required when %s.create=false" .key .key) .sa.name -}}
{{- end -}}
{{- end -}}

{{/*
The identity of run and step pods: its own ServiceAccount, bound to no Role, so code that runs in a
job pod cannot create Jobs or pods (or read Secrets through them). The run pod still mounts its
token: dagster-celery-k8s loads the in-cluster config when the run pod builds the run launcher,
although it then calls no API (its executor hands steps to Celery; the workers create the Jobs).
*/}}
{{- define "dagster.runServiceAccountName" -}}
{{- include "dagster.serviceAccount.pick" (dict "sa" .Values.runLauncher.serviceAccount "default" (include "dagster.componentName" (dict "ctx" . "suffix" "run")) "key" "runLauncher.serviceAccount") -}}
{{- end -}}

{{/*
The label the run launcher puts on every run and step pod of this release (Dagster's own labels on
them name no release): NetworkPolicies admit these pods, and tools can find a release's job pods.
*/}}
{{- define "dagster.runPodLabel" -}}dagster-dev.io/release{{- end -}}

{{/*
runLauncher.type: CeleryK8sRunLauncher (Celery workers and a broker; each step a Job a worker
starts) or K8sRunLauncher (each run a Job whose k8s_job_executor starts a Job per step; no Celery,
no broker). "true" while runs go through Celery.
*/}}
{{- define "dagster.celery.enabled" -}}
{{- if eq .Values.runLauncher.type "CeleryK8sRunLauncher" -}}true{{- end -}}
{{- end -}}

{{/* Checks of the run launcher values that the schema cannot express. */}}
{{- define "dagster.runLauncher.validate" -}}
{{- if not (include "dagster.celery.enabled" .) -}}
{{- if .Values.rabbitmq.enabled -}}
{{- fail "rabbitmq.enabled: runLauncher.type=K8sRunLauncher runs no Celery and needs no broker; set rabbitmq.enabled=false (dagster-dev does this for runLauncher: K8sRunLauncher)" -}}
{{- end -}}
{{- else if gt (int (.Values.runMonitoring.maxResumeRunAttempts | default 0)) 0 -}}
{{- fail "runMonitoring.maxResumeRunAttempts: the CeleryK8sRunLauncher cannot resume runs; set it to 0, or use runLauncher.type=K8sRunLauncher" -}}
{{- end -}}
{{- end -}}

{{/* NetworkPolicy peers: the release's pods and its run and step pods. */}}
{{- define "dagster.networkPolicy.peers" -}}
- podSelector:
    matchLabels:
      app.kubernetes.io/instance: {{ .Release.Name }}
- podSelector:
    matchLabels:
      {{ include "dagster.runPodLabel" . }}: {{ .Release.Name }}
{{- end -}}

{{/*
K8sRunLauncher only: the identity of step pods, bound to no Role (the run pod, which creates the
step Jobs, uses the run ServiceAccount, bound to <fullname>-run-worker).
*/}}
{{- define "dagster.stepServiceAccountName" -}}
{{- include "dagster.serviceAccount.pick" (dict "sa" .Values.runLauncher.stepServiceAccount "default" (include "dagster.componentName" (dict "ctx" . "suffix" "step")) "key" "runLauncher.stepServiceAccount") -}}
{{- end -}}

{{/*
Images. (dict "ctx" $ "image" .Values.dagit.image) -> repository:tag. An empty repository or tag
falls back to .Values.image, and an empty shared tag to the chart's appVersion (the Dagster version).
*/}}
{{- define "dagster.image" -}}
{{- $ctx := .ctx -}}
{{- $img := .image | default dict -}}
{{- $repo := toString ($img.repository | default $ctx.Values.image.repository) -}}
{{- $tag := toString ($img.tag | default $ctx.Values.image.tag | default $ctx.Chart.AppVersion) -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}

{{- define "dagster.dagit.image" -}}
{{- include "dagster.image" (dict "ctx" . "image" .Values.dagit.image) -}}
{{- end -}}

{{- define "dagster.jobRunner.image" -}}
{{- include "dagster.image" (dict "ctx" . "image" .Values.job_runner.image) -}}
{{- end -}}

{{- define "dagster.userCode.image" -}}
{{- include "dagster.image" (dict "ctx" . "image" .Values.userCode.image) -}}
{{- end -}}

{{- define "dagster.sharedImage" -}}
{{- include "dagster.image" (dict "ctx" . "image" dict) -}}
{{- end -}}

{{- define "dagster.postgresql.image" -}}
{{- printf "%s:%s" (toString .Values.postgresql.image.repository) (toString .Values.postgresql.image.tag) -}}
{{- end -}}

{{/* DAGSTER_HOME: the component's own value, else the shared dagster_home. */}}
{{- define "dagster.dagit.dagsterHome" -}}
{{- .Values.dagit.dagster_home | default .Values.dagster_home -}}
{{- end -}}

{{- define "dagster.jobRunner.dagsterHome" -}}
{{- .Values.job_runner.dagster_home | default .Values.dagster_home -}}
{{- end -}}

{{/* Object names shared by several templates. */}}
{{- define "dagster.instance.name" -}}{{ include "dagster.componentName" (dict "ctx" . "suffix" "instance") }}{{- end -}}
{{- define "dagster.dagitEnv.name" -}}{{ include "dagster.componentName" (dict "ctx" . "suffix" "dagit-env") }}{{- end -}}
{{- define "dagster.jobRunnerEnv.name" -}}{{ include "dagster.componentName" (dict "ctx" . "suffix" "job-runner-env") }}{{- end -}}
{{- define "dagster.celery.name" -}}{{ include "dagster.componentName" (dict "ctx" . "suffix" "celery") }}{{- end -}}
{{- define "dagster.workspace.name" -}}{{ include "dagster.componentName" (dict "ctx" . "suffix" "workspace") }}{{- end -}}
{{- define "dagster.dagit.name" -}}{{ include "dagster.componentName" (dict "ctx" . "suffix" "dagit") }}{{- end -}}
{{- define "dagster.daemon.name" -}}{{ include "dagster.componentName" (dict "ctx" . "suffix" "daemon") }}{{- end -}}
{{- define "dagster.workers.name" -}}{{ include "dagster.componentName" (dict "ctx" . "suffix" "celery-workers") }}{{- end -}}
{{- define "dagster.userCode.name" -}}{{ include "dagster.componentName" (dict "ctx" . "suffix" "user-code") }}{{- end -}}
{{- define "dagster.example.name" -}}{{ include "dagster.componentName" (dict "ctx" . "suffix" "user-code-example") }}{{- end -}}

{{/*
PostgreSQL. The subchart names its objects <release>-postgresql (or its fullnameOverride); these
helpers compute the same names from the parent's view of the subchart values.
*/}}
{{- define "dagster.postgresql.fullname" -}}
{{- default (printf "%s-postgresql" .Release.Name) .Values.postgresql.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "dagster.postgresql.host" -}}
{{- if .Values.postgresql.enabled -}}
{{- include "dagster.postgresql.fullname" . -}}
{{- else -}}
{{- required "postgresql.postgresqlHost is required when postgresql.enabled=false" .Values.postgresql.postgresqlHost -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding key postgresql-password (Dagster's job pods read exactly that key). */}}
{{- define "dagster.postgresql.secretName" -}}
{{- if .Values.postgresql.existingSecret -}}
{{- .Values.postgresql.existingSecret -}}
{{- else -}}
{{- include "dagster.postgresql.fullname" . -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding key DAGSTER_CELERY_BROKER_URL. */}}
{{- define "dagster.broker.secretName" -}}
{{- if and .Values.rabbitmq.enabled .Values.rabbitmq.existingSecret -}}
{{- .Values.rabbitmq.existingSecret -}}
{{- else if .Values.rabbitmq.enabled -}}
{{- printf "%s-broker" (default (printf "%s-rabbitmq" .Release.Name) .Values.rabbitmq.fullnameOverride | trunc 63 | trimSuffix "-") -}}
{{- else if .Values.rabbitmq.brokerUrlSecret -}}
{{- .Values.rabbitmq.brokerUrlSecret -}}
{{- else if .Values.rabbitmq.brokerUrl -}}
{{- include "dagster.componentName" (dict "ctx" . "suffix" "celery-broker") -}}
{{- else -}}
{{- fail "rabbitmq.brokerUrl or rabbitmq.brokerUrlSecret is required when rabbitmq.enabled=false" -}}
{{- end -}}
{{- end -}}

{{/*
Environment ConfigMap data: DAGSTER_HOME plus every non-empty entry of the env map, as strings.
GRPC_DNS_RESOLVER defaults to "native" (the env map may set it): gRPC's bundled c-ares resolver
took 2-3 s per code-server call on a kind cluster without upstream DNS (each Dagster gRPC call
resolves the Service name again), the system resolver 7 ms; a reload makes several such calls.
(dict "home" <path> "env" <map> "key" "dagit.env")
*/}}
{{- define "dagster.envData" -}}
DAGSTER_HOME: {{ .home | quote }}
{{- if not (hasKey (.env | default dict) "GRPC_DNS_RESOLVER") }}
GRPC_DNS_RESOLVER: "native"
{{- end }}
{{- if .lib }}
PYTHONPATH: {{ include "dagster.lib.pythonPath" (dict "lib" .lib "env" .env) | quote }}
{{- end }}
{{- if and .launcher (ne .launcher "CeleryK8sRunLauncher") }}
{{- /* The example code location picks its executor by it (k8s_job_executor here). */}}
DAGSTER_DEV_RUN_LAUNCHER: {{ .launcher | quote }}
{{- end }}
{{- range $name, $value := .env }}
{{- if eq $name "DAGSTER_HOME" }}
{{- fail (printf "%s.DAGSTER_HOME: set dagster_home (or the component's dagster_home) instead; dagster.yaml is mounted there" $.key) }}
{{- end }}
{{- if and (not (kindIs "invalid" $value)) (ne (toString $value) "") (not (and $.lib (eq $name "PYTHONPATH"))) }}
{{ $name }}: {{ toString $value | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "dagster.dagitEnv.data" -}}
{{- include "dagster.envData" (dict "home" (include "dagster.dagit.dagsterHome" .) "env" .Values.dagit.env "key" "dagit.env" "lib" (include "dagster.lib.dirIfEnabled" .)) -}}
{{- end -}}

{{- define "dagster.jobRunnerEnv.data" -}}
{{- include "dagster.envData" (dict "home" (include "dagster.jobRunner.dagsterHome" .) "env" .Values.job_runner.env "key" "job_runner.env" "lib" (include "dagster.lib.dirIfEnabled" .) "launcher" .Values.runLauncher.type) -}}
{{- end -}}

{{/*
envFrom, in the seed chart's order: the chart's env ConfigMap, then each ConfigMap, then each Secret.
Later sources win, so values < ConfigMaps < Secrets. Empty names are skipped.
(dict "base" <configmap> "configMaps" <list> "secrets" <list>)
*/}}
{{- define "dagster.envFrom" -}}
- configMapRef:
    name: {{ .base }}
{{- range .configMaps }}
{{- if . }}
- configMapRef:
    name: {{ . }}
{{- end }}
{{- end }}
{{- range .secrets }}
{{- if . }}
- secretRef:
    name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "dagster.dagit.envFrom" -}}
{{- include "dagster.envFrom" (dict "base" (include "dagster.dagitEnv.name" .) "configMaps" .Values.dagit.env_config_maps "secrets" .Values.dagit.env_secrets) -}}
{{- end -}}

{{- define "dagster.jobRunner.envFrom" -}}
{{- include "dagster.envFrom" (dict "base" (include "dagster.jobRunnerEnv.name" .) "configMaps" .Values.job_runner.env_config_maps "secrets" .Values.job_runner.env_secrets) -}}
{{- end -}}

{{/*
The chart's own `env` entries: only secret references, so that nothing a user sets in values,
ConfigMaps or Secrets is shadowed by `env` (which beats every envFrom source).
*/}}
{{- define "dagster.secretEnv" -}}
- name: DAGSTER_PG_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "dagster.postgresql.secretName" . }}
      key: postgresql-password
{{- if include "dagster.celery.enabled" . }}
- name: DAGSTER_CELERY_BROKER_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "dagster.broker.secretName" . }}
      key: DAGSTER_CELERY_BROKER_URL
{{- end }}
{{- end -}}

{{/*
Init container: wait until PostgreSQL accepts connections (pg_isready from the postgres image).
Init containers run with their pod's container securityContext: (dict "ctx" $ "own" <securityContext>).
Each try is cut at 3 s: after a node or Docker restart the cluster DNS is restarted under it, and a
lookup sent to the old DNS pod would otherwise hang for the resolver's 5 s timeout and retries
(measured: one try took 13 s after DNS already answered again).
*/}}
{{- define "dagster.initWaitForPostgres" -}}
{{- $sc := .own -}}
{{- with .ctx -}}
- name: wait-for-postgresql
  image: {{ include "dagster.postgresql.image" . | quote }}
  imagePullPolicy: {{ .Values.imagePullPolicy }}
  {{- include "dagster.containerSecurityContext" (dict "ctx" . "own" $sc) | nindent 2 }}
  {{- include "dagster.initResources" . | nindent 2 }}
  command:
    - /bin/sh
    - -c
    - |
      until timeout 3 pg_isready -t 2 -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "$PGDATABASE"; do
        echo "waiting for PostgreSQL at $PGHOST:$PGPORT"; sleep 1
      done
  env:
    - name: PGHOST
      value: {{ include "dagster.postgresql.host" . | quote }}
    - name: PGPORT
      value: {{ .Values.postgresql.service.port | toString | quote }}
    - name: PGUSER
      value: {{ .Values.postgresql.postgresqlUsername | quote }}
    - name: PGDATABASE
      value: {{ .Values.postgresql.postgresqlDatabase | quote }}
{{- end }}
{{- end -}}

{{/*
Init container: wait until the broker accepts an AMQP login (kombu from the Dagster image), so
workers do not crash-loop while RabbitMQ boots. It never prints the URL, which holds the password.
*/}}
{{- define "dagster.initWaitForBroker" -}}
{{- $sc := .own -}}
{{- with .ctx -}}
- name: wait-for-broker
  image: {{ include "dagster.jobRunner.image" . | quote }}
  imagePullPolicy: {{ .Values.imagePullPolicy }}
  {{- include "dagster.containerSecurityContext" (dict "ctx" . "own" $sc) | nindent 2 }}
  {{- include "dagster.initResources" . | nindent 2 }}
  command:
    - python
    - -c
    - |
      import os, time
      from kombu import Connection
      url = os.environ["DAGSTER_CELERY_BROKER_URL"]
      while True:
          try:
              with Connection(url, connect_timeout=5) as conn:
                  conn.connect()
              print("broker is ready", flush=True)
              break
          except Exception as exc:
              print("waiting for the broker: %s" % type(exc).__name__, flush=True)
              time.sleep(2)
  env:
    - name: DAGSTER_CELERY_BROKER_URL
      valueFrom:
        secretKeyRef:
          name: {{ include "dagster.broker.secretName" . }}
          key: DAGSTER_CELERY_BROKER_URL
  volumeMounts:
    {{- include "dagster.tmp.volumeMount" . | nindent 4 }}
{{- end }}
{{- end -}}

{{/*
Init containers for Dagit and the daemon: wait until each code server answers its gRPC health check
(one container per server, in workspace order). The check is the one `dagster api grpc-health-check`
makes (the standard health service, service "DagsterApi"), through grpcio alone: importing Dagster
for it cost about a second per try on an idle machine and several while pods start together. Dagster's webserver gives up on a location that
stays unreachable for its reconnect window and does not retry on its own; when Dagit and a code
server roll together (an env change for both, a cold install on a slow machine), starting Dagit
first would leave the location errored until someone reloads it by hand. `dagster code-server
start` reports SERVING once its subprocess has loaded the definitions (or captured the load error).
(dict "ctx" $ "container" <name> "host" <service> "port" <port>)
*/}}
{{- define "dagster.initWaitForCodeServer" -}}
- name: {{ .container }}
  image: {{ include "dagster.dagit.image" .ctx | quote }}
  imagePullPolicy: {{ .ctx.Values.imagePullPolicy }}
  {{- include "dagster.containerSecurityContext" (dict "ctx" .ctx "own" .own) | nindent 2 }}
  {{- include "dagster.initResources" .ctx | nindent 2 }}
  command:
    - python
    - -c
    - |
      import os, time
      import grpc
      from grpc_health.v1 import health_pb2, health_pb2_grpc
      target = "%s:%s" % (os.environ["CODE_SERVER_HOST"], os.environ["CODE_SERVER_PORT"])
      while True:
          try:
              with grpc.insecure_channel(target) as channel:
                  status = health_pb2_grpc.HealthStub(channel).Check(
                      health_pb2.HealthCheckRequest(service="DagsterApi"), timeout=2).status
              if status == health_pb2.HealthCheckResponse.SERVING:
                  print("code server at %s is serving" % target, flush=True)
                  break
          except grpc.RpcError:
              pass
          print("waiting for the code server at %s" % target, flush=True)
          time.sleep(0.5)
  env:
    - name: CODE_SERVER_HOST
      value: {{ .host | quote }}
    - name: CODE_SERVER_PORT
      value: {{ .port | toString | quote }}
    # gRPC's c-ares resolver costs seconds per lookup on an offline cluster.
    - name: GRPC_DNS_RESOLVER
      value: native
  volumeMounts:
    {{- include "dagster.tmp.volumeMount" .ctx | nindent 4 }}
{{- end -}}

{{- define "dagster.initWaitForCodeServers" -}}
{{- $sc := .own -}}
{{- $ctx := .ctx -}}
{{- if include "dagster.userCode.enabled" $ctx }}
{{ include "dagster.initWaitForCodeServer" (dict "ctx" $ctx "own" $sc "container" "wait-for-user-code" "host" (include "dagster.userCode.name" $ctx) "port" $ctx.Values.userCode.port) }}
{{- end }}
{{- range $ctx.Values.userDeployments }}
{{ include "dagster.initWaitForCodeServer" (dict "ctx" $ctx "own" $sc "container" (printf "wait-for-code-%s" .name) "host" (include "dagster.codeServer.name" (dict "ctx" $ctx "name" .name)) "port" (.port | default 3030)) }}
{{- end }}
{{- end -}}

{{/* Pod scheduling shared by the Dagster pods. */}}
{{- define "dagster.podScheduling" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
Checksums of the chart-rendered ConfigMaps a pod consumes: a `helm upgrade` that changes one of
them rolls exactly the workloads that read it. Each checksum covers the data only (not labels), so
a chart version bump alone restarts nothing.
*/}}
{{- define "dagster.checksum.instance" -}}{{ include "dagster.instance.data" . | sha256sum }}{{- end -}}
{{- define "dagster.checksum.dagitEnv" -}}{{ include "dagster.dagitEnv.data" . | sha256sum }}{{- end -}}
{{- define "dagster.checksum.jobRunnerEnv" -}}{{ include "dagster.jobRunnerEnv.data" . | sha256sum }}{{- end -}}
{{- define "dagster.checksum.celery" -}}{{ include "dagster.celery.data" . | sha256sum }}{{- end -}}
{{- define "dagster.checksum.workspace" -}}{{ include "dagster.workspace.data" . | sha256sum }}{{- end -}}
{{- define "dagster.checksum.example" -}}{{ include "dagster.example.data" . | sha256sum }}{{- end -}}
{{- define "dagster.checksum.lib" -}}{{ include "dagster.lib.data" . | sha256sum }}{{- end -}}

{{/*
dagster-dev's run launcher (runLauncher.locationContext): the module files/dagster_dev_launcher.py in
the ConfigMap <fullname>-dagster-dev-lib, mounted read-only at dagster.lib.dir in Dagit, the daemon,
the Celery workers and every code server, and (through the launcher's volumes) in every run and
step pod. PYTHONPATH in <fullname>-dagit-env and <fullname>-job-runner-env makes it importable.
*/}}
{{- define "dagster.lib.enabled" -}}
{{- if or .Values.runLauncher.locationContext (not (include "dagster.celery.enabled" .)) -}}true{{- end -}}
{{- end -}}
{{- define "dagster.lib.name" -}}{{ include "dagster.componentName" (dict "ctx" . "suffix" "dagster-dev-lib") }}{{- end -}}
{{- define "dagster.lib.dir" -}}/opt/dagster/dagster-dev-lib{{- end -}}
{{- define "dagster.lib.file" -}}dagster_dev_launcher.py{{- end -}}
{{- define "dagster.lib.dirIfEnabled" -}}
{{- if include "dagster.lib.enabled" . }}{{ include "dagster.lib.dir" . }}{{ end -}}
{{- end -}}

{{- define "dagster.lib.data" -}}
{{ include "dagster.lib.file" . }}: |
{{ .Files.Get "files/dagster_dev_launcher.py" | indent 2 }}
{{- end -}}

{{/*
PYTHONPATH of a chart env ConfigMap: (dict "lib" <dir> "env" <env values>). A PYTHONPATH in the
env values comes first (an image's own PYTHONPATH is replaced by any PYTHONPATH in the pod's
environment; restating it in env keeps it), then the library directory.
*/}}
{{- define "dagster.lib.pythonPath" -}}
{{- $own := "" -}}
{{- if and .env (hasKey .env "PYTHONPATH") (not (kindIs "invalid" .env.PYTHONPATH)) -}}
{{- $own = toString .env.PYTHONPATH -}}
{{- end -}}
{{- if $own }}{{ $own }}:{{ end }}{{ .lib -}}
{{- end -}}

{{- define "dagster.lib.volume" -}}
- name: dagster-dev-lib
  configMap:
    name: {{ include "dagster.lib.name" . }}
{{- end -}}

{{- define "dagster.lib.volumeMount" -}}
- name: dagster-dev-lib
  mountPath: {{ include "dagster.lib.dir" . | quote }}
  readOnly: true
{{- end -}}

{{/* Where the example code is mounted, in the code server and in every job pod. */}}
{{- define "dagster.example.dir" -}}/opt/dagster/dagster-dev-example{{- end -}}
{{- define "dagster.example.file" -}}dagster_dev_example.py{{- end -}}

{{/*
Security settings, hardened by default (the `restricted` Pod Security Standard). The shared
podSecurityContext / securityContext apply to every Dagster pod and container (init containers and
the test pod included; run and step pods through the run launcher); a component's own settings
replace the shared ones key by key, and a key set to null removes it. With the shared value null
and no component value, no securityContext is rendered.
(dict "shared" <shared value> "own" <component value>) -> YAML, or "" when nothing is set.
*/}}
{{- define "dagster.mergeSecurity" -}}
{{- $out := deepCopy (.shared | default dict) -}}
{{- range $k, $v := (.own | default dict) -}}
{{- if kindIs "invalid" $v -}}
{{- $_ := unset $out $k -}}
{{- else -}}
{{- $_ := set $out $k $v -}}
{{- end -}}
{{- end -}}
{{- with $out }}{{ toYaml . }}{{ end -}}
{{- end -}}

{{/* A pod's securityContext: (dict "ctx" $ "own" .Values.<component>.podSecurityContext). */}}
{{- define "dagster.podSecurityContext" -}}
{{- with include "dagster.mergeSecurity" (dict "shared" .ctx.Values.podSecurityContext "own" .own) }}
securityContext:
  {{- . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* A container's securityContext: (dict "ctx" $ "own" .Values.<component>.securityContext). */}}
{{- define "dagster.containerSecurityContext" -}}
{{- with include "dagster.mergeSecurity" (dict "shared" .ctx.Values.securityContext "own" .own) }}
securityContext:
  {{- . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
The container securityContext of run and step pods. dagster-celery-k8s creates their Jobs with a
container securityContext only (no pod-level one), so the pod-level user, group, runAsNonRoot and
seccomp profile (shared podSecurityContext + runLauncher.podSecurityContext) are folded into it,
then the container settings (shared securityContext + runLauncher.securityContext) win.
*/}}
{{- define "dagster.runPod.securityContext" -}}
{{- $pod := include "dagster.mergeSecurity" (dict "shared" .Values.podSecurityContext "own" .Values.runLauncher.podSecurityContext) | fromYaml -}}
{{- $container := include "dagster.mergeSecurity" (dict "shared" .Values.securityContext "own" .Values.runLauncher.securityContext) | fromYaml -}}
{{- $out := dict -}}
{{- range $k := list "runAsUser" "runAsGroup" "runAsNonRoot" "seccompProfile" "seLinuxOptions" "appArmorProfile" "windowsOptions" -}}
{{- if hasKey $pod $k }}{{ $_ := set $out $k (get $pod $k) }}{{ end -}}
{{- end -}}
{{- range $k, $v := $container }}{{ $_ := set $out $k $v }}{{ end -}}
{{- with $out }}{{ toYaml . }}{{ end -}}
{{- end -}}

{{/* Resources of the chart's init containers. */}}
{{- define "dagster.initResources" -}}
{{- with .Values.initContainers.resources }}
resources:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
The writable scratch directory of every Dagster container: with readOnlyRootFilesystem, /tmp is an
emptyDir (Python's tempfile, gRPC's and Celery's temporary files).
*/}}
{{- define "dagster.tmp.volume" -}}
- name: tmp
  emptyDir: {}
{{- end -}}
{{- define "dagster.tmp.volumeMount" -}}
- name: tmp
  mountPath: /tmp
{{- end -}}

{{/*
Compute logs (stdout/stderr of runs, shown in Dagit). computeLogs.type:
  local  Dagster's LocalComputeLogManager on a PersistentVolumeClaim (<fullname>-compute-logs) that
         run and step pods write and Dagit reads, mounted at dagster.computeLogs.dir in both (the
         webserver reads base_dir/<run_id>/compute_logs/<key>.out|.err). Several pods share it:
         ReadWriteOnce serves every pod of a one-node cluster (kind); use a ReadWriteMany class
         (NFS, EFS, Filestore, ...) on a cluster with more nodes.
  none   NoOpComputeLogManager: no stdout/stderr in Dagit.
  custom computeLogs.custom {module, class, config}, e.g. dagster_aws.s3.compute_log_manager /
         S3ComputeLogManager (the image must ship the module).
*/}}
{{- define "dagster.computeLogs.enabled" -}}
{{- if eq .Values.computeLogs.type "local" -}}true{{- end -}}
{{- end -}}
{{- define "dagster.computeLogs.name" -}}{{ include "dagster.componentName" (dict "ctx" . "suffix" "compute-logs") }}{{- end -}}
{{- define "dagster.computeLogs.dir" -}}/opt/dagster/compute-logs{{- end -}}

{{- define "dagster.computeLogs.instance" -}}
{{- $cl := .Values.computeLogs -}}
{{- if eq $cl.type "local" -}}
module: dagster._core.storage.local_compute_log_manager
class: LocalComputeLogManager
config:
  base_dir: {{ include "dagster.computeLogs.dir" . | quote }}
{{- else if eq $cl.type "custom" -}}
{{- $c := $cl.custom | default dict -}}
module: {{ required "computeLogs.custom.module is required when computeLogs.type=custom" $c.module | quote }}
class: {{ required "computeLogs.custom.class is required when computeLogs.type=custom" (get $c "class") | quote }}
{{- with $c.config }}
config:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- else -}}
module: dagster._core.storage.noop_compute_log_manager
class: NoOpComputeLogManager
{{- end -}}
{{- end -}}

{{- define "dagster.computeLogs.volume" -}}
- name: compute-logs
  persistentVolumeClaim:
    claimName: {{ include "dagster.computeLogs.name" . }}
{{- end -}}
{{- define "dagster.computeLogs.volumeMount" -}}
- name: compute-logs
  mountPath: {{ include "dagster.computeLogs.dir" . | quote }}
{{- end -}}
