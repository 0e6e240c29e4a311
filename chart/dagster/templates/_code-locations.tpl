{{/*
Code locations. The workspace lists, in this order:
  1. the userCode location (dagster-user-code): the bundled example with the job dagster_dev_probe,
     or, without userDeployments, the single-location API (userCode.moduleName / pythonFile);
     rendered when userDeployments is empty or userCode.example.enabled is true;
  2. one location per userDeployments entry (<fullname>-code-<name>).
Every code server runs `dagster code-server start`: a proxy that loads the definitions in a
subprocess and reloads them on request (reloadRepositoryLocation / reloadWorkspace) without
restarting the pod.
*/}}

{{/* The label that carries a code server's location name (chart.LabelCodeLocation). */}}
{{- define "dagster.codeLocationLabel" -}}dagster-dev.io/code-location{{- end -}}

{{/* "true" when the userCode location is rendered (the example, or the single-location API). */}}
{{- define "dagster.userCode.enabled" -}}
{{- $uc := .Values.userCode -}}
{{- if or $uc.example.enabled (and (not .Values.userDeployments) (or $uc.pythonFile $uc.moduleName)) -}}true{{- end -}}
{{- end -}}

{{/* (dict "ctx" $ "name" <location>) -> <fullname>-code-<name>; checked to fit 63 characters. */}}
{{- define "dagster.codeServer.name" -}}
{{- printf "%s-code-%s" (include "dagster.fullname" .ctx) .name -}}
{{- end -}}

{{/* The ConfigMap holding a location's `env` values: <fullname>-code-<name>-env. */}}
{{- define "dagster.codeServer.envName" -}}
{{- printf "%s-env" (include "dagster.codeServer.name" .) -}}
{{- end -}}

{{/* Selector labels of one user deployment's pods: (dict "ctx" $ "name" <location>). */}}
{{- define "dagster.codeServer.selectorLabels" -}}
{{ include "dagster.selectorLabels" (dict "ctx" .ctx "component" "user-code") }}
{{ include "dagster.codeLocationLabel" . }}: {{ .name }}
{{- end -}}

{{/* A location's image: (dict "ctx" $ "d" <entry>); empty fields fall back to `image`. */}}
{{- define "dagster.codeServer.image" -}}
{{- include "dagster.image" (dict "ctx" .ctx "image" .d.image) -}}
{{- end -}}

{{- define "dagster.codeServer.pullPolicy" -}}
{{- $img := .d.image | default dict -}}
{{- $img.pullPolicy | default .ctx.Values.imagePullPolicy -}}
{{- end -}}

{{/*
Data of a location's env ConfigMap: its `env` values as strings, empty values skipped. DAGSTER_HOME
comes from <release>-job-runner-env and may not be set here. (dict "ctx" $ "d" <entry>). With
runLauncher.locationContext a PYTHONPATH gets the launcher's directory appended: this ConfigMap
comes after <release>-job-runner-env in the code server and (through the launcher) in run and step
pods, so its PYTHONPATH replaces that one, and run pods must still import the launcher.
*/}}
{{- define "dagster.codeServer.envData" -}}
{{- $d := .d -}}
{{- $lib := include "dagster.lib.dirIfEnabled" .ctx -}}
{{- range $name, $value := $d.env }}
{{- if eq $name "DAGSTER_HOME" }}
{{- fail (printf "userDeployments[%s].env.DAGSTER_HOME: set dagster_home (or job_runner.dagster_home) instead; dagster.yaml is mounted there" $d.name) }}
{{- end }}
{{- if and (not (kindIs "invalid" $value)) (ne (toString $value) "") }}
{{- if and $lib (eq $name "PYTHONPATH") }}
{{ $name }}: {{ include "dagster.lib.pythonPath" (dict "lib" $lib "env" $d.env) | quote }}
{{- else }}
{{ $name }}: {{ toString $value | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
The code server's environment, in the seed chart's order within each layer, later sources winning:
  1. <release>-job-runner-env (DAGSTER_HOME + job_runner.env)
  2. job_runner.env_config_maps, in order
  3. job_runner.env_secrets, in order
  4. <fullname>-code-<name>-env (the location's env values)
  5. the location's env_config_maps, in order
  6. the location's env_secrets, in order
So the location's own layer wins over the shared one, and inside each layer values < ConfigMaps <
Secrets.
*/}}
{{- define "dagster.codeServer.envFrom" -}}
{{- include "dagster.jobRunner.envFrom" .ctx }}
- configMapRef:
    name: {{ include "dagster.codeServer.envName" (dict "ctx" .ctx "name" .d.name) }}
{{- range .d.env_config_maps }}
{{- if . }}
- configMapRef:
    name: {{ . }}
{{- end }}
{{- end }}
{{- range .d.env_secrets }}
{{- if . }}
- secretRef:
    name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
DAGSTER_CONTAINER_CONTEXT of a location (includeConfigInLaunchedRuns), as JSON.

What reads it (dagster 1.13 / dagster-k8s and dagster-celery-k8s 0.29, from Dagster's source:
dagster/_cli/code_server.py, dagster_k8s/container_context.py, dagster_celery_k8s/launcher.py and
executor.py):
  - `dagster code-server start` takes it from this variable (--container-context) and hands it
    to the code it serves; Dagster stores it with every run's code origin.
  - CeleryK8sRunLauncher.launch_run (run pods) reads only repository_origin.container_image from
    the origin; image, env_config_maps, env_secrets, volumes, volume_mounts, pull policy, pull
    secrets, service account and labels come from the launcher config in dagster.yaml and the
    run's executor config. The container context is ignored (Dagster issue #13728).
  - celery_k8s_job_executor (step pods) builds its Job config the same way
    (run_launcher.get_k8s_job_config + executor config); the image is the executor's job_image,
    else DAGSTER_CURRENT_IMAGE in the run pod, else the origin's container_image. Only
    dagster-k8s/config tags and per_step_k8s_config add to it. The container context is ignored.
  - dagster_k8s.execute_k8s_job / k8s_job_op (Jobs an op starts itself) do read it: with a run
    launcher that is not a K8sRunLauncher they build their pod from this context alone.
So with the plain launcher a location's image reaches its run and step pods (the code server's
--container-image), and its env, ConfigMaps, Secrets and volumes reach its code server only. The
chart's default launcher (runLauncher.locationContext, files/dagster_dev_launcher.py) closes the gap:
it applies env_config_maps, env_secrets, volumes, volume_mounts and image_pull_policy from this
context to the run pod and, through DAGSTER_DEV_LOCATION_K8S in the run pod, to the step pods. It
reads the origin's raw context, so the order given here is kept. Its env values go in as the location's env ConfigMap, not
as env_vars, because env_vars become `env` entries that would beat every ConfigMap and Secret.
Note: K8sContainerContext merges lists through a de-duplication that sorts them, so consumers do
not keep the order of env_config_maps / env_secrets given here.
*/}}
{{- define "dagster.codeServer.containerContext" -}}
{{- $ctx := .ctx -}}
{{- $d := .d -}}
{{- $cms := list (include "dagster.jobRunnerEnv.name" $ctx) -}}
{{- range $ctx.Values.job_runner.env_config_maps }}{{ if . }}{{ $cms = append $cms . }}{{ end }}{{ end -}}
{{- $cms = append $cms (include "dagster.codeServer.envName" (dict "ctx" $ctx "name" $d.name)) -}}
{{- range $d.env_config_maps }}{{ if . }}{{ $cms = append $cms . }}{{ end }}{{ end -}}
{{- $secrets := list -}}
{{- range $ctx.Values.job_runner.env_secrets }}{{ if . }}{{ $secrets = append $secrets . }}{{ end }}{{ end -}}
{{- range $d.env_secrets }}{{ if . }}{{ $secrets = append $secrets . }}{{ end }}{{ end -}}
{{- $k8s := dict "image_pull_policy" (include "dagster.codeServer.pullPolicy" .) "env_config_maps" $cms "env_secrets" $secrets -}}
{{- with $d.volumes }}{{ $_ := set $k8s "volumes" . }}{{ end -}}
{{- with $d.volumeMounts }}{{ $_ := set $k8s "volume_mounts" . }}{{ end -}}
{{- dict "k8s" $k8s | toJson -}}
{{- end -}}

{{/*
The code-server command: (dict "port" .. "location" .. "image" .. "file" .. "module" ..
"workingDirectory" .. "attribute" ..). Flags as defined by `dagster code-server start` in Dagster
1.13 (dagster/_cli/code_server.py and dagster_shared/cli python_pointer_options): --host, --port,
--location-name, --container-image (the image runs and steps are launched in), --python-file /
--module-name, --working-directory, --attribute.
*/}}
{{- define "dagster.codeServer.command" -}}
- dagster
- code-server
- start
- --host
- 0.0.0.0
- --port
- {{ .port | toString | quote }}
- --location-name
- {{ .location | quote }}
- --container-image
- {{ .image | quote }}
{{- if .file }}
- --python-file
- {{ .file | quote }}
{{- else }}
- --module-name
- {{ .module | quote }}
{{- end }}
{{- with .workingDirectory }}
- --working-directory
- {{ . | quote }}
{{- end }}
{{- with .attribute }}
- --attribute
- {{ . | quote }}
{{- end }}
{{- end -}}

{{/*
Checks of the code-location values that the schema cannot express. Included by the workspace
ConfigMap, which every install renders.
*/}}
{{- define "dagster.codeLocations.validate" -}}
{{- $uc := .Values.userCode -}}
{{- if .Values.userDeployments -}}
{{- $replacements := dict "moduleName" "module" "pythonFile" "file" "attribute" "attribute" "workingDirectory" "workingDirectory" -}}
{{- range $key := list "moduleName" "pythonFile" "attribute" "workingDirectory" -}}
{{- if get $uc $key -}}
{{- fail (printf "userCode.%s is the single-location API and cannot be combined with userDeployments: declare the location as a userDeployments entry (userDeployments[].%s). With userDeployments, userCode only configures the bundled example (userCode.example.enabled)" $key (get $replacements $key)) -}}
{{- end -}}
{{- end -}}
{{- $img := $uc.image | default dict -}}
{{- if or $img.repository $img.tag -}}
{{- fail "userCode.image cannot be combined with userDeployments: set userDeployments[].image for each location (the bundled example runs on the shared `image`)" -}}
{{- end -}}
{{- end -}}
{{- $seen := dict -}}
{{- if include "dagster.userCode.enabled" . -}}
{{- $_ := set $seen $uc.locationName "userCode.locationName" -}}
{{- end -}}
{{- range $i, $d := .Values.userDeployments -}}
{{- $where := printf "userDeployments[%d] (%s)" $i $d.name -}}
{{- if hasKey $seen $d.name -}}
{{- fail (printf "%s: the location name %q is already used by %s; location names must be unique" $where $d.name (get $seen $d.name)) -}}
{{- end -}}
{{- $_ := set $seen $d.name (printf "userDeployments[%d]" $i) -}}
{{- if and $d.module $d.file -}}
{{- fail (printf "%s: set exactly one of module and file, not both" $where) -}}
{{- end -}}
{{- if not (or $d.module $d.file) -}}
{{- fail (printf "%s: set exactly one of module (a Python module) and file (a Python file path)" $where) -}}
{{- end -}}
{{- $svc := include "dagster.codeServer.name" (dict "ctx" $ "name" $d.name) -}}
{{- if gt (len $svc) 63 -}}
{{- fail (printf "%s: the code server's Service name %s is longer than 63 characters; shorten the location name or the release name" $where $svc) -}}
{{- end -}}
{{- range $d.volumes -}}
{{- if eq (toString .name) "dagster-home" -}}
{{- fail (printf "%s: the volume name dagster-home is the chart's own (DAGSTER_HOME); pick another name" $where) -}}
{{- end -}}
{{- if eq (toString .name) "tmp" -}}
{{- fail (printf "%s: the volume name tmp is the chart's own (the writable /tmp under a read-only root filesystem); pick another name" $where) -}}
{{- end -}}
{{- if eq (toString .name) "dagster-dev-lib" -}}
{{- fail (printf "%s: the volume name dagster-dev-lib is the chart's own (the run launcher's module); pick another name" $where) -}}
{{- end -}}
{{- end -}}
{{- if include "dagster.lib.enabled" $ -}}
{{- range $d.volumeMounts -}}
{{- if eq (toString .mountPath) (include "dagster.lib.dir" $) -}}
{{- fail (printf "%s: the mountPath %s is the chart's own (the run launcher's module, runLauncher.locationContext); pick another path" $where .mountPath) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
A code server's readiness probe: the kubelet asks its gRPC health service (DagsterApi), which reports
SERVING once the code is loaded. Every second (a cheap call): Dagit and the daemon wait for it after a
roll. 15 failures in a row (15 s) take it out. (dict "port" <port>)
*/}}
{{- define "dagster.codeServer.readinessProbe" -}}
readinessProbe:
  grpc:
    port: {{ .port }}
    service: DagsterApi
  periodSeconds: 1
  timeoutSeconds: 2
  failureThreshold: 15
{{- end -}}
