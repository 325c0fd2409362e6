{{/* Names and labels. */}}
{{- define "podrouter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "podrouter.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* <fullname>-<component>; fullname is cut at 50 so that "-controller-metrics" still fits 63. */}}
{{- define "podrouter.componentName" -}}
{{- printf "%s-%s" (include "podrouter.fullname" .root) .component -}}
{{- end -}}

{{- define "podrouter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "podrouter.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "podrouter.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{ include "podrouter.selectorLabels" . }}
app.kubernetes.io/part-of: podrouter
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "podrouter.serviceAccountName" -}}
{{- $sa := (index .root.Values .component).serviceAccount -}}
{{- default (include "podrouter.componentName" .) $sa.name -}}
{{- end -}}

{{/* An env value as the process reads it. Values files hold numbers as float64, which would
print as 1e+06: integral ones are printed as integers. */}}
{{- define "podrouter.envValue" -}}
{{- if kindIs "float64" . -}}
{{- if eq . (float64 (int64 .)) -}}{{ int64 . }}{{- else -}}{{ . }}{{- end -}}
{{- else -}}
{{- . -}}
{{- end -}}
{{- end -}}

{{/* A duration as the processes parse it (250ms, 5s, 2m, 1h, or bare seconds) → whole seconds,
rounded up. Input: dict "name" "value". */}}
{{- define "podrouter.durationSeconds" -}}
{{- $v := include "podrouter.envValue" .value | trim -}}
{{- if not (regexMatch "^[0-9]+(\\.[0-9]+)?(ms|s|m|h)?$" $v) -}}
{{- fail (printf "%s: %q is not a duration (250ms, 5s, 2m, 1h)" .name $v) -}}
{{- end -}}
{{- $number := regexReplaceAll "(ms|s|m|h)$" $v "" | float64 -}}
{{- $unit := regexReplaceAll "^[0-9.]+" $v "" -}}
{{- $factor := dict "ms" 0.001 "s" 1.0 "" 1.0 "m" 60.0 "h" 3600.0 -}}
{{- mulf $number (index $factor $unit) | ceil | int64 -}}
{{- end -}}

{{/* True ("true") when a boolean setting is on, as the processes read it. */}}
{{- define "podrouter.isTrue" -}}
{{- if has (include "podrouter.envValue" . | lower) (list "true" "1" "yes") -}}true{{- end -}}
{{- end -}}

{{/* The namespaces of WATCH_NAMESPACES, as a list (empty = all). Input: the env map. */}}
{{- define "podrouter.watchNamespaces" -}}
{{- $out := list -}}
{{- range (splitList "," (include "podrouter.envValue" (.WATCH_NAMESPACES | default ""))) -}}
{{- if trim . -}}{{- $out = append $out (trim .) -}}{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* Container env: every non-empty setting of <component>.env (minus those the chart sets
itself, `computed`, and the names extraEnv replaces), then `computed`, then extraEnv.
Input: dict "root" "component" "computed" (name → EnvVar without name). */}}
{{- define "podrouter.env" -}}
{{- $values := index .root.Values .component -}}
{{- $extra := dict -}}
{{- range $values.extraEnv -}}{{- $_ := set $extra .name true -}}{{- end -}}
{{- range $name, $value := $values.env }}
{{- if and (not (kindIs "invalid" $value)) (ne (include "podrouter.envValue" $value) "") (not (hasKey $.computed $name)) (not (hasKey $extra $name)) }}
- name: {{ $name }}
  value: {{ include "podrouter.envValue" $value | quote }}
{{- end }}
{{- end }}
{{- range $name, $source := .computed }}
{{- if not (hasKey $extra $name) }}
- name: {{ $name }}
{{ toYaml $source | indent 2 }}
{{- end }}
{{- end }}
{{- with $values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "podrouter.image" -}}
{{- $image := (index .root.Values .component).image -}}
{{- printf "%s:%s" $image.repository (default .root.Chart.AppVersion $image.tag) -}}
{{- end -}}

{{/* Pod-level parts shared by the three Deployments. Input: dict "root" "component" "port"
(the lowest port the process binds). */}}
{{- define "podrouter.podSecurityContext" -}}
{{- $ctx := deepCopy .root.Values.podSecurityContext -}}
{{- if lt (int .port) 1024 -}}
{{- $sysctls := $ctx.sysctls | default list -}}
{{- $has := false -}}
{{- range $sysctls -}}{{- if eq .name "net.ipv4.ip_unprivileged_port_start" -}}{{- $has = true -}}{{- end -}}{{- end -}}
{{- if not $has -}}
{{- $sysctls = append $sysctls (dict "name" "net.ipv4.ip_unprivileged_port_start" "value" (toString .port)) -}}
{{- end -}}
{{- $_ := set $ctx "sysctls" $sysctls -}}
{{- end -}}
{{- toYaml $ctx -}}
{{- end -}}

{{- define "podrouter.podScheduling" -}}
{{- $values := index .root.Values .component -}}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
{{ toYaml . }}
{{- end }}
{{- with $values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with $values.nodeSelector }}
nodeSelector:
{{ toYaml . | indent 2 }}
{{- end }}
{{- with $values.tolerations }}
tolerations:
{{ toYaml . }}
{{- end }}
{{- with $values.affinity }}
affinity:
{{ toYaml . | indent 2 }}
{{- end }}
{{- with $values.topologySpreadConstraints }}
topologySpreadConstraints:
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "podrouter.podAnnotations" -}}
{{- $values := index .root.Values .component -}}
{{- $a := dict -}}
{{- if .root.Values.metrics.podAnnotations -}}
{{- $_ := set $a "prometheus.io/scrape" "true" -}}
{{- $_ := set $a "prometheus.io/port" (toString .adminPort) -}}
{{- $_ := set $a "prometheus.io/path" "/metrics" -}}
{{- end -}}
{{- range $k, $v := $values.podAnnotations -}}{{- $_ := set $a $k $v -}}{{- end -}}
{{- with $a }}{{ toYaml . }}{{ end -}}
{{- end -}}

{{- define "podrouter.probes" -}}
readinessProbe:
  httpGet: { path: /readyz, port: admin }
{{ toYaml .root.Values.probes.readiness | indent 2 }}
livenessProbe:
  httpGet: { path: /healthz, port: admin }
{{ toYaml .root.Values.probes.liveness | indent 2 }}
{{- end -}}

{{- define "podrouter.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- with (index .root.Values .component).extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "podrouter.volumes" -}}
- name: tmp
  emptyDir: { sizeLimit: 64Mi }
{{- with (index .root.Values .component).extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* "true" when TLS_PORT turns the HTTPS listener on (not empty, not "off"). Input: the value. */}}
{{- define "podrouter.tlsOn" -}}
{{- $v := include "podrouter.envValue" (. | default "") | trim | lower -}}
{{- if not (has $v (list "" "off")) -}}true{{- end -}}
{{- end -}}
