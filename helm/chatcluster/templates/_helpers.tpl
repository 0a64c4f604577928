{{/* The chart name. */}}
{{- define "chatcluster.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The resource name prefix: <release>-<chart> unless overridden. */}}
{{- define "chatcluster.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The headless Service giving pods stable DNS names. */}}
{{- define "chatcluster.headless" -}}
{{- printf "%s-peers" (include "chatcluster.fullname" .) }}
{{- end }}

{{/* The Secret with the cluster cookie and the token signing key. */}}
{{- define "chatcluster.secretName" -}}
{{- default (include "chatcluster.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{- define "chatcluster.selectorLabels" -}}
app.kubernetes.io/name: {{ include "chatcluster.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "chatcluster.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "chatcluster.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Peers: the headless Service's name, which resolves to every pod. */}}
{{- define "chatcluster.peers" -}}
{{- printf "%s.%s.svc.%s:%d" (include "chatcluster.headless" .) .Release.Namespace .Values.clusterDomain (int .Values.cluster.port) }}
{{- end }}
