{{/* Base name of every object. */}}
{{- define "isthmus.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains "isthmus" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-isthmus" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels that select the pods. */}}
{{- define "isthmus.selectorLabels" -}}
app.kubernetes.io/name: isthmus
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "isthmus.labels" -}}
{{ include "isthmus.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- with .Values.revision }}
istio.io/rev: {{ . }}
{{- end }}
{{- end -}}

{{- define "isthmus.serviceAccountName" -}}
{{- .Values.serviceAccount.name | default (include "isthmus.fullname" .) -}}
{{- end -}}

{{/* Suffix of cluster-scoped names: the revision, if any, and the namespace. */}}
{{- define "isthmus.clusterSuffix" -}}
{{- if .Values.revision -}}{{ .Values.revision }}-{{- end -}}{{ .Release.Namespace }}
{{- end -}}

{{- define "isthmus.validatorName" -}}
{{- printf "%s-validator-%s" (include "isthmus.fullname" .) (include "isthmus.clusterSuffix" .) | trunc 253 -}}
{{- end -}}

{{- define "isthmus.injectorName" -}}
{{- printf "%s-sidecar-injector-%s" (include "isthmus.fullname" .) (include "isthmus.clusterSuffix" .) | trunc 253 -}}
{{- end -}}

{{- define "isthmus.caSecretName" -}}
{{- .Values.ca.existingSecret | default (printf "%s-ca" (include "isthmus.fullname" .)) -}}
{{- end -}}

{{/* The Service injected sidecars and the webhooks reach. */}}
{{- define "isthmus.discoveryService" -}}
{{- if .Values.istiodAlias.enabled -}}{{ .Values.istiodAlias.name }}{{- else -}}{{ include "isthmus.fullname" . }}{{- end -}}
{{- end -}}

{{/* DNS names of the TLS certificate: each Service's short, namespaced and .svc names, then extraDNSNames. */}}
{{- define "isthmus.dnsNames" -}}
{{- $ns := .Release.Namespace -}}
{{- $names := list -}}
{{- $services := list (include "isthmus.fullname" .) -}}
{{- if .Values.istiodAlias.enabled -}}{{- $services = append $services .Values.istiodAlias.name -}}{{- end -}}
{{- range $services -}}
{{- $names = concat $names (list . (printf "%s.%s" . $ns) (printf "%s.%s.svc" . $ns)) -}}
{{- end -}}
{{- concat $names .Values.extraDNSNames | uniq | join "," -}}
{{- end -}}

{{/* Arguments of isthmus serve, as a YAML list. */}}
{{- define "isthmus.args" -}}
{{- $v := .Values -}}
{{- $args := list "serve"
  "--config-kubeconfig=in-cluster"
  (printf "--config-cluster-id=%s" $v.clusterId)
  (printf "--kubeconfig=%s=in-cluster" $v.clusterId)
  (printf "--remote-secrets=%t" $v.remoteSecrets)
  (printf "--system-namespace=%s" .Release.Namespace)
  (printf "--trust-domain=%s" ($v.meshConfig.trustDomain | default "cluster.local"))
  "--mesh-config=/etc/isthmus/config/mesh"
  "--ca-dir=/etc/isthmus/cacerts"
  "--state-dir=/var/lib/isthmus/state"
  (printf "--secure-dns-names=%s" (include "isthmus.dnsNames" .))
  "--xds-listen=:15010"
  "--secure-listen=:15012"
  "--monitoring-listen=:15014"
  "--webhook-listen=:15017" -}}
{{- if $v.gatewayCredentials -}}
{{- $args = append $args "--credentials-dir=/etc/isthmus/credentials" -}}
{{- end -}}
{{- if $v.writeStatus -}}
{{- $args = append $args "--write-status" -}}
{{- end -}}
{{- range $v.networkGateways -}}
{{- $args = append $args (printf "--network-gateway=%s=%s" .network .address) -}}
{{- end -}}
{{- if $v.validation.enabled -}}
{{- $args = append $args (printf "--validating-webhook=%s" (include "isthmus.validatorName" .)) -}}
{{- end -}}
{{- if $v.injection.enabled -}}
{{- $discovery := $v.injection.discoveryAddress | default (printf "%s.%s.svc:15012" (include "isthmus.discoveryService" .) .Release.Namespace) -}}
{{- $args = concat $args (list
  (printf "--injection-webhook=%s" (include "isthmus.injectorName" .))
  (printf "--inject-mode=%s" $v.injection.mode)
  (printf "--sidecar-image=%s" $v.injection.sidecarImage)
  (printf "--inject-discovery-address=%s" $discovery)) -}}
{{- end -}}
{{- $args = concat $args (list (printf "--log-level=%s" $v.log.level) (printf "--log-format=%s" $v.log.format)) $v.extraArgs -}}
{{- toYaml $args -}}
{{- end -}}

{{/* The fields every injection webhook shares; takes dict service, failurePolicy. */}}
{{- define "isthmus.injectWebhook" -}}
clientConfig:
  service:
    {{- toYaml .service | nindent 4 }}
rules:
  - operations: ["CREATE"]
    apiGroups: [""]
    apiVersions: ["v1"]
    resources: ["pods"]
failurePolicy: {{ .failurePolicy }}
sideEffects: None
reinvocationPolicy: Never
admissionReviewVersions: ["v1"]
timeoutSeconds: 10
{{- end -}}
