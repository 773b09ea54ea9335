{{/* Names and labels shared by every object. */}}
{{- define "ura.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ura.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "ura.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ura.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ura.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "ura.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "ura.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ura.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ura.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Where the pod mounts what the configuration refers to. The ConfigMap and the
Deployment both use these, so a path in ura.yaml is always a mounted file.
*/}}
{{- define "ura.paths" -}}
config: /etc/ura/config
tls: /etc/ura/tls
clientCAs: /etc/ura/client-cas
keys: /etc/ura/keys
redis: /etc/ura/redis
redisCA: /etc/ura/redis-ca
vaultCA: /etc/ura/vault-ca
vaultToken: /var/run/secrets/ura/vault
data: /var/lib/ura
{{- end }}

{{/* The ura.yaml the ConfigMap holds: config from values, then what the chart owns. */}}
{{- define "ura.config" -}}
{{- $p := include "ura.paths" . | fromYaml }}
{{- $cfg := deepCopy (default dict .Values.config) }}
{{- range $section, $keys := dict "redis" (list "password" "sentinel_password") "vault" (list "token") "store" (list "dsn") "audit" (list "dsn") }}
{{- range $keys }}
{{- if hasKey (default dict (index $cfg $section)) . }}
{{- fail (printf "config.%s.%s: a secret does not belong in values; the chart reads it from a Secret (README.md)" $section .) }}
{{- end }}
{{- end }}
{{- end }}
{{- $cas := list }}
{{- range .Values.tls.clientCAs }}
{{- $ca := dict "name" .name "cert_file" (printf "%s/%s/%s" $p.clientCAs .name .key) "prefixes" .prefixes }}
{{- if .crls }}{{- $_ := set $ca "crls" .crls }}{{- end }}
{{- $cas = append $cas $ca }}
{{- end }}
{{- $tls := merge (dict "cert_file" (printf "%s/tls.crt" $p.tls) "key_file" (printf "%s/tls.key" $p.tls) "min_version" .Values.tls.minVersion "client_cas" $cas "crl_state_file" (printf "%s/crl-numbers.json" $p.data)) (default dict $cfg.tls) }}
{{- $_ := set $tls "client_cas" $cas }}
{{- $_ := set $tls "cert_file" (printf "%s/tls.crt" $p.tls) }}
{{- $_ := set $tls "key_file" (printf "%s/tls.key" $p.tls) }}
{{- $_ := set $tls "crl_state_file" (printf "%s/crl-numbers.json" $p.data) }}
{{- $_ := set $cfg "tls" $tls }}
{{- $_ := set $cfg "listen" (printf "0.0.0.0:%d" (int .Values.ports.mtls)) }}
{{- $_ := set $cfg "ops_listen" (printf "0.0.0.0:%d" (int .Values.ports.ops)) }}
{{- $_ := set $cfg "ops_metrics" .Values.opsMetrics }}
{{- $r := .Values.redis }}
{{- $redis := dict "username" $r.username "password_file" (printf "%s/password" $p.redis) }}
{{- if $r.sentinel.enabled }}
{{- $_ := set $redis "addrs" $r.sentinel.addrs }}
{{- $_ := set $redis "master_name" $r.sentinel.masterName }}
{{- if $r.sentinel.passwordKey }}{{- $_ := set $redis "sentinel_password_file" (printf "%s/sentinel-password" $p.redis) }}{{- end }}
{{- else }}
{{- $_ := set $redis "addrs" $r.addrs }}
{{- end }}
{{- if $r.tls.enabled }}
{{- $rtls := dict "enabled" true }}
{{- if $r.tls.caSecret }}{{- $_ := set $rtls "ca_file" (printf "%s/%s" $p.redisCA $r.tls.caKey) }}{{- end }}
{{- if $r.tls.serverName }}{{- $_ := set $rtls "server_name" $r.tls.serverName }}{{- end }}
{{- $_ := set $redis "tls" $rtls }}
{{- end }}
{{- $_ := set $cfg "redis" (merge $redis (default dict $cfg.redis)) }}
{{- $rl := default dict $cfg.ratelimit }}
{{- $_ := set $rl "replicas" (int .Values.replicaCount) }}
{{- $_ := set $cfg "ratelimit" $rl }}
{{- $v := .Values.vault }}
{{- $vault := dict "addr" $v.addr "auth" (dict "method" "kubernetes" "role" $v.auth.role "mount" $v.auth.mount "service_account_token_file" (printf "%s/token" $p.vaultToken)) }}
{{- if $v.caSecret }}{{- $_ := set $vault "ca_file" (printf "%s/%s" $p.vaultCA $v.caKey) }}{{- end }}
{{- $_ := set $cfg "vault" (merge $vault (default dict $cfg.vault)) }}
{{- $_ := set $cfg "store" (merge (dict "driver" "postgres") (omit (default dict $cfg.store) "driver" "path" "dsn")) }}
{{- $_ := set $cfg "audit" (merge (dict "driver" "postgres") (omit (default dict $cfg.audit) "driver" "dir" "dsn")) }}
{{- $_ := set $cfg "cursors" (dict "key_file" (printf "%s/cursor.key" $p.keys)) }}
{{- $_ := set $cfg "console" (merge (dict "csrf_key_file" (printf "%s/console-csrf.key" $p.keys)) (omit (default dict $cfg.console) "csrf_key_file")) }}
{{- if $cfg.upstream }}
{{- $ob := default dict $cfg.upstream.outbox }}
{{- $_ := set $ob "path" (printf "%s/outbox.db" $p.data) }}
{{- $_ := set $cfg.upstream "outbox" $ob }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}
