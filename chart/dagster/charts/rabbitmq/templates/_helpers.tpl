{{/* <release>-rabbitmq; the dagster chart computes the same name to find the Service and the broker Secret. */}}
{{- define "rabbitmq.fullname" -}}
{{- default (printf "%s-%s" .Release.Name .Chart.Name) .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "rabbitmq.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: broker
{{- end -}}

{{- define "rabbitmq.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "rabbitmq.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | toString | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The Secret with rabbitmq-password (server) and DAGSTER_CELERY_BROKER_URL (clients). */}}
{{- define "rabbitmq.secretName" -}}
{{- .Values.existingSecret | default (include "rabbitmq.fullname" .) -}}
{{- end -}}
