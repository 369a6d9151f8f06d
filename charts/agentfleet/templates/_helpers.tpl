{{/* The operator's name and labels. */}}
{{- define "agentfleet.fullname" -}}
{{- printf "%s-operator" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "agentfleet.labels" -}}
app.kubernetes.io/name: agentfleet-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: agentfleet
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "agentfleet.selector" -}}
app.kubernetes.io/name: agentfleet-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
"true" when the cluster serves a Prometheus Operator kind, given as (list $ "Kind"). A live
cluster lists each served kind as monitoring.coreos.com/v1/<Kind>; `helm template` takes the
same through --api-versions monitoring.coreos.com/v1/<Kind>.
*/}}
{{- define "agentfleet.servesMonitoring" -}}
{{- $root := index . 0 -}}
{{- if $root.Capabilities.APIVersions.Has (printf "monitoring.coreos.com/v1/%s" (index . 1)) -}}
true
{{- end -}}
{{- end -}}

{{/* Labels of the Prometheus Operator objects: the chart's, plus monitoring.labels. */}}
{{- define "agentfleet.monitoringLabels" -}}
{{ include "agentfleet.labels" . }}
{{- with .Values.monitoring.labels }}
{{ toYaml . }}
{{- end }}
{{- end -}}
