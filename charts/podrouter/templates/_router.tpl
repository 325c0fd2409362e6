{{/* One router build (public or private): ServiceAccount, RBAC, Deployment, Service, PDB.
The two builds differ only in defaults (their env), the Service and the names. Input: dict
"root" "component". */}}
{{- define "podrouter.router" -}}
{{- $root := .root -}}
{{- $component := .component -}}
{{- $values := index $root.Values $component -}}
{{- $env := $values.env -}}
{{- $name := include "podrouter.componentName" . -}}
{{- $sa := include "podrouter.serviceAccountName" . -}}
{{- $port := include "podrouter.envValue" $env.PORT | int -}}
{{- $adminPort := include "podrouter.envValue" $env.ADMIN_PORT | int -}}
{{- if or (le $port 0) (gt $port 65535) (le $adminPort 0) (gt $adminPort 65535) (eq $port $adminPort) -}}
{{- fail (printf "%s.env: PORT (%v) and ADMIN_PORT (%v) must be two different ports 1-65535" $component $env.PORT $env.ADMIN_PORT) -}}
{{- end -}}
{{- $tls := include "podrouter.tlsOn" $env.TLS_PORT | eq "true" -}}
{{- $tlsPort := 0 -}}
{{- if $tls }}{{- $tlsPort = include "podrouter.envValue" $env.TLS_PORT | int -}}{{- end -}}
{{- if and $tls (or (le $tlsPort 0) (gt $tlsPort 65535) (eq $tlsPort $port) (eq $tlsPort $adminPort)) -}}
{{- fail (printf "%s.env: TLS_PORT (%v) must be a port 1-65535 other than PORT and ADMIN_PORT, or empty (no TLS)" $component $env.TLS_PORT) -}}
{{- end -}}
{{- $lowestPort := min $port $adminPort -}}
{{- if $tls }}{{- $lowestPort = min $lowestPort $tlsPort -}}{{- end -}}
{{- $delay := include "podrouter.durationSeconds" (dict "name" (printf "%s.env.SHUTDOWN_DELAY" $component) "value" $env.SHUTDOWN_DELAY) | int -}}
{{- $timeout := include "podrouter.durationSeconds" (dict "name" (printf "%s.env.SHUTDOWN_TIMEOUT" $component) "value" $env.SHUTDOWN_TIMEOUT) | int -}}
{{- $grace := add $delay $timeout (int $values.terminationGraceMarginSeconds) -}}
{{- if not (kindIs "invalid" $values.terminationGracePeriodSeconds) -}}
{{- $grace = int $values.terminationGracePeriodSeconds -}}
{{- if le $grace (add $delay $timeout) -}}
{{- fail (printf "%s.terminationGracePeriodSeconds (%d) must exceed SHUTDOWN_DELAY + SHUTDOWN_TIMEOUT (%d s), or the kubelet kills the router before it has drained" $component $grace (add $delay $timeout)) -}}
{{- end -}}
{{- end -}}
{{- $computed := dict -}}
{{- if $root.Values.redis.existingSecret -}}
{{- if ne (include "podrouter.envValue" ($env.REDIS_URL | default "")) "" -}}
{{- fail (printf "%s.env.REDIS_URL and redis.existingSecret are both set: keep the URL in the Secret only" $component) -}}
{{- end -}}
{{- $_ := set $computed "REDIS_URL" (dict "valueFrom" (dict "secretKeyRef" (dict "name" $root.Values.redis.existingSecret "key" $root.Values.redis.urlKey))) -}}
{{- if $root.Values.redis.passwordKey -}}
{{- $_ := set $computed "REDIS_PASSWORD" (dict "valueFrom" (dict "secretKeyRef" (dict "name" $root.Values.redis.existingSecret "key" $root.Values.redis.passwordKey))) -}}
{{- end -}}
{{- end -}}
{{- $kube := eq (include "podrouter.envValue" $env.SOURCE) "kube" -}}
{{- if $values.serviceAccount.create }}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ $sa }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "podrouter.labels" . | nindent 4 }}
  {{- with $values.serviceAccount.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- if and $root.Values.rbac.create $kube }}
{{- $secretName := index (splitList ":" (include "podrouter.envValue" $env.API_KEY_SECRET_LOCATION)) 0 }}
{{- /* docs/rbac.md, "TLS Secrets": the Secrets Pods may name (rbac.tlsSecretNames), by name. */ -}}
{{- $secretNames := list $secretName }}
{{- $defaultTls := include "podrouter.envValue" ($env.DEFAULT_TLS_SECRET | default "") }}
{{- if $tls }}
{{- $secretNames = concat $secretNames ($root.Values.rbac.tlsSecretNames | default list) }}
{{- end }}
{{- /* docs/rbac.md, "CA Secrets": the Secrets Services name for TLS to their backends. */ -}}
{{- $secretNames = concat $secretNames ($root.Values.rbac.backendCaSecretNames | default list) }}
{{- $secretRule := dict "apiGroups" (list "") "resources" (list "secrets") "resourceNames" (uniq $secretNames) "verbs" (list "list" "watch") }}
{{- if has "*" $secretNames }}
{{- $secretRule = dict "apiGroups" (list "") "resources" (list "secrets") "verbs" (list "list" "watch") }}
{{- end }}
{{- $rules := list
  (dict "apiGroups" (list "") "resources" (list "pods") "verbs" (list "list" "watch"))
  $secretRule
  (dict "apiGroups" (list "") "resources" (list "services") "verbs" (list "list" "watch"))
  (dict "apiGroups" (list "discovery.k8s.io") "resources" (list "endpointslices") "verbs" (list "list" "watch")) }}
{{- if include "podrouter.isTrue" $env.POD_EVENTS }}
{{- $rules = append $rules (dict "apiGroups" (list "events.k8s.io") "resources" (list "events") "verbs" (list "create" "patch" "get")) }}
{{- end }}
{{- $namespaces := include "podrouter.watchNamespaces" $env | fromJsonArray }}
{{- if and $tls $defaultTls }}
{{- $defaultNs := index (splitList "/" $defaultTls) 0 }}
{{- $defaultName := index (splitList "/" $defaultTls) 1 }}
---
# docs/rbac.md: DEFAULT_TLS_SECRET, by name, in its own namespace.
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ $name }}-default-tls
  namespace: {{ $defaultNs }}
  labels:
    {{- include "podrouter.labels" . | nindent 4 }}
rules:
  - { apiGroups: [""], resources: ["secrets"], resourceNames: [{{ $defaultName | quote }}], verbs: ["list", "watch"] }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ $name }}-default-tls
  namespace: {{ $defaultNs }}
  labels:
    {{- include "podrouter.labels" . | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ $name }}-default-tls
subjects:
  - kind: ServiceAccount
    name: {{ $sa }}
    namespace: {{ $root.Release.Namespace }}
{{- end }}
{{- if not $namespaces }}
---
# docs/rbac.md: list/watch Pods, list/watch the API-key Secret by name only, Events on Pods
# with rejected annotation entries (POD_EVENTS).
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {{ $name }}
  labels:
    {{- include "podrouter.labels" . | nindent 4 }}
rules:
  {{- toYaml $rules | nindent 2 }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {{ $name }}
  labels:
    {{- include "podrouter.labels" . | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {{ $name }}
subjects:
  - kind: ServiceAccount
    name: {{ $sa }}
    namespace: {{ $root.Release.Namespace }}
{{- else }}
{{- range $namespaces }}
---
# docs/rbac.md, "Watching some namespaces only".
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ $name }}
  namespace: {{ . }}
  labels:
    {{- include "podrouter.labels" $ | nindent 4 }}
rules:
  {{- toYaml $rules | nindent 2 }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ $name }}
  namespace: {{ . }}
  labels:
    {{- include "podrouter.labels" $ | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ $name }}
subjects:
  - kind: ServiceAccount
    name: {{ $sa }}
    namespace: {{ $root.Release.Namespace }}
{{- end }}
{{- end }}
{{- end }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "podrouter.labels" . | nindent 4 }}
spec:
  replicas: {{ $values.replicas }}
  revisionHistoryLimit: 5
  strategy:
    type: RollingUpdate
    rollingUpdate: { maxSurge: 1, maxUnavailable: 0 }
  selector:
    matchLabels:
      {{- include "podrouter.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "podrouter.labels" . | nindent 8 }}
        {{- with $values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with include "podrouter.podAnnotations" (dict "root" $root "component" $component "adminPort" $adminPort) }}
      annotations:
        {{- . | nindent 8 }}
      {{- end }}
    spec:
      serviceAccountName: {{ $sa }}
      automountServiceAccountToken: {{ $kube }}
      enableServiceLinks: false
      # The router fails /readyz, waits SHUTDOWN_DELAY, then drains for up to SHUTDOWN_TIMEOUT.
      terminationGracePeriodSeconds: {{ $grace }}
      securityContext:
        {{- include "podrouter.podSecurityContext" (dict "root" $root "port" $lowestPort) | nindent 8 }}
      {{- with include "podrouter.podScheduling" . | trim }}
      {{- . | nindent 6 }}
      {{- end }}
      containers:
        - name: router
          image: {{ include "podrouter.image" . }}
          imagePullPolicy: {{ $values.image.pullPolicy }}
          ports:
            - { name: http, containerPort: {{ $port }}, protocol: TCP }
            - { name: admin, containerPort: {{ $adminPort }}, protocol: TCP }
            {{- if $tls }}
            - { name: https, containerPort: {{ $tlsPort }}, protocol: TCP }
            {{- end }}
          env:
            {{- include "podrouter.env" (dict "root" $root "component" $component "computed" $computed) | trim | nindent 12 }}
          {{- with $values.extraEnvFrom }}
          envFrom:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- include "podrouter.probes" . | nindent 10 }}
          resources:
            {{- toYaml $values.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            {{- include "podrouter.volumeMounts" . | nindent 12 }}
      volumes:
        {{- include "podrouter.volumes" . | trim | nindent 8 }}
{{- if $values.pdb.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ $name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "podrouter.labels" . | nindent 4 }}
spec:
  maxUnavailable: {{ $values.pdb.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "podrouter.selectorLabels" . | nindent 6 }}
{{- end }}
{{- include "podrouter.metricsService" (dict "root" $root "component" $component "adminPort" $adminPort) }}
{{- end -}}

{{/* The admin port's ClusterIP Service and ServiceMonitor, when metrics.serviceMonitor is on. */}}
{{- define "podrouter.metricsService" -}}
{{- if .root.Values.metrics.serviceMonitor.enabled }}
{{- $name := printf "%s-metrics" (include "podrouter.componentName" .) }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $name }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "podrouter.labels" . | nindent 4 }}
    podrouter.dev/metrics: "true"
spec:
  type: ClusterIP
  selector:
    {{- include "podrouter.selectorLabels" . | nindent 4 }}
  ports:
    - { name: admin, port: {{ .adminPort }}, targetPort: admin, protocol: TCP }
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "podrouter.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "podrouter.labels" . | nindent 4 }}
    {{- with .root.Values.metrics.serviceMonitor.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "podrouter.selectorLabels" . | nindent 6 }}
      podrouter.dev/metrics: "true"
  namespaceSelector:
    matchNames: [{{ .root.Release.Namespace }}]
  endpoints:
    - port: admin
      path: /metrics
      interval: {{ .root.Values.metrics.serviceMonitor.interval }}
      scrapeTimeout: {{ .root.Values.metrics.serviceMonitor.scrapeTimeout }}
{{- end }}
{{- end -}}
