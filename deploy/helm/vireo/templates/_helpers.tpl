{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "vireo.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name for resources: <release>-<chart>, or the release name alone when it already contains the chart name.
Truncated to 52 characters so "-headless" and the StatefulSet's pod suffix still fit in 63.
*/}}
{{- define "vireo.fullname" -}}
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

{{- define "vireo.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every resource. */}}
{{- define "vireo.labels" -}}
helm.sh/chart: {{ include "vireo.chart" . }}
{{ include "vireo.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: server
{{- end }}

{{/* Labels that select the server pods; they never change after install. */}}
{{- define "vireo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vireo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "vireo.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "vireo.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "vireo.headlessName" -}}
{{- printf "%s-headless" (include "vireo.fullname" .) }}
{{- end }}

{{/* The Secret and key that hold VIREO_TOKENS. */}}
{{- define "vireo.tokensSecretName" -}}
{{- if .Values.auth.existingSecret }}
{{- .Values.auth.existingSecret }}
{{- else }}
{{- printf "%s-tokens" (include "vireo.fullname" .) }}
{{- end }}
{{- end }}

{{- define "vireo.tokensSecretKey" -}}
{{- if .Values.auth.existingSecret }}
{{- .Values.auth.existingSecretKey }}
{{- else -}}
tokens
{{- end }}
{{- end }}

{{/*
The comma-separated token list for the chart-managed Secret: the configured tokens; otherwise the value the
Secret already holds (so upgrades keep the generated key); otherwise a new random API key.
*/}}
{{- define "vireo.tokensValue" -}}
{{- if .Values.auth.tokens }}
{{- join "," .Values.auth.tokens }}
{{- else }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "vireo.tokensSecretName" .) }}
{{- if and $existing $existing.data (index $existing.data "tokens") }}
{{- index $existing.data "tokens" | b64dec }}
{{- else }}
{{- randAlphaNum 40 }}
{{- end }}
{{- end }}
{{- end }}

{{- define "vireo.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}
