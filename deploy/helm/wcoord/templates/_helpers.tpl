{{/* Names. A StatefulSet adds "-<10-char hash>" to its name in the
controller-revision-hash label (max 63), hence 52. */}}
{{- define "wcoord.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 52 | trimSuffix "-" -}}
{{- end -}}

{{- define "wcoord.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "wcoord.headlessName" -}}{{ include "wcoord.fullname" . }}-headless{{- end -}}
{{- define "wcoord.metricsName" -}}{{ include "wcoord.fullname" . }}-metrics{{- end -}}

{{- define "wcoord.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "wcoord.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "wcoord.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wcoord.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "wcoord.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "wcoord.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: wcoord
{{- end -}}

{{- define "wcoord.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) -}}
{{- end -}}

{{/* PromQL label matchers selecting this release's scrape target. The
ServiceMonitor scrapes the metrics Service, so Prometheus' job label is its name. */}}
{{- define "wcoord.promSelector" -}}
job="{{ include "wcoord.metricsName" . }}",namespace="{{ .Release.Namespace }}"
{{- end -}}

{{/* A Kubernetes memory quantity ("2Gi", "1536Mi", "2G", "2147483648") in bytes. */}}
{{- define "wcoord.bytes" -}}
{{- $q := toString . | trim -}}
{{- $num := regexFind "^[0-9]+(\\.[0-9]+)?" $q -}}
{{- $suffix := trimPrefix $num $q -}}
{{- $mult := dict "" 1 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 -}}
{{- if or (not $num) (not (hasKey $mult $suffix)) -}}
{{- fail (printf "cannot read memory quantity %q: use a number with an optional k, M, G, T, Ki, Mi, Gi or Ti suffix" $q) -}}
{{- end -}}
{{- mulf (float64 $num) (get $mult $suffix) | floor | int64 -}}
{{- end -}}

{{/* RocksDB memory bounds from the memory limit; see store.memory in values.yaml.
Returns JSON {"blockCache": n, "writeBuffer": n, "limit": n, "reserved": n}. */}}
{{- define "wcoord.rocksdbMemory" -}}
{{- $m := .Values.store.memory -}}
{{- $limitQ := required "resources.limits.memory is required: the RocksDB memory bounds (store.block.cache.bytes, store.write.buffer.bytes) are derived from it" .Values.resources.limits.memory -}}
{{- $limit := include "wcoord.bytes" $limitQ | int64 -}}
{{- $reserved := include "wcoord.bytes" $m.reserved | int64 -}}
{{- $avail := sub $limit $reserved | int64 -}}
{{- $minBudget := 268435456 -}}
{{- $wb := 0 -}}
{{- $bc := 0 -}}
{{- if or (gt (int64 $m.blockCacheBytes) 0) (gt (int64 $m.writeBufferBytes) 0) -}}
{{- if not (and (gt (int64 $m.blockCacheBytes) 0) (gt (int64 $m.writeBufferBytes) 0)) -}}
{{- fail "store.memory.blockCacheBytes and store.memory.writeBufferBytes must be set together (or both 0 to derive them from resources.limits.memory)" -}}
{{- end -}}
{{- $bc = int64 $m.blockCacheBytes -}}
{{- $wb = int64 $m.writeBufferBytes -}}
{{- if gt (add $bc $wb $reserved) $limit -}}
{{- fail (printf "store.memory.blockCacheBytes + writeBufferBytes + reserved (%d bytes) exceed resources.limits.memory %s (%d bytes)" (add $bc $wb $reserved) $limitQ $limit) -}}
{{- end -}}
{{- else -}}
{{- if lt $avail $minBudget -}}
{{- fail (printf "resources.limits.memory %s leaves %d MiB after store.memory.reserved %s; at least 256 MiB are needed for RocksDB and headroom" $limitQ (div $avail 1048576) (toString $m.reserved)) -}}
{{- end -}}
{{- if or (le (float64 $m.fraction) 0.0) (gt (float64 $m.fraction) 0.9) -}}
{{- fail "store.memory.fraction must be in (0, 0.9]: RocksDB needs headroom beyond its cache and memtables" -}}
{{- end -}}
{{- if or (le (float64 $m.writeBufferFraction) 0.0) (ge (float64 $m.writeBufferFraction) 1.0) -}}
{{- fail "store.memory.writeBufferFraction must be in (0, 1)" -}}
{{- end -}}
{{- $budget := mulf $avail $m.fraction | floor | int64 -}}
{{- $wb = mulf $budget $m.writeBufferFraction | floor | int64 -}}
{{- $bc = sub $budget $wb | int64 -}}
{{- end -}}
{{- dict "blockCache" $bc "writeBuffer" $wb "limit" $limit "reserved" $reserved | toJson -}}
{{- end -}}

{{/* A properties value: integral numbers without exponent (YAML numbers
arrive as float64), booleans lower-case, strings verbatim but single-line. */}}
{{- define "wcoord.propValue" -}}
{{- $v := . -}}
{{- if kindIs "float64" $v -}}
{{- if eq $v (floor $v) -}}{{ printf "%d" (int64 $v) }}{{- else -}}{{ $v }}{{- end -}}
{{- else if or (kindIs "int" $v) (kindIs "int64" $v) -}}
{{- printf "%d" $v -}}
{{- else if kindIs "bool" $v -}}
{{- ternary "true" "false" $v -}}
{{- else if or (kindIs "map" $v) (kindIs "slice" $v) -}}
{{- fail (printf "configuration values must be scalars, got %v" $v) -}}
{{- else -}}
{{- $s := toString $v -}}
{{- if or (contains "\n" $s) (contains "\r" $s) -}}
{{- fail (printf "configuration value %q spans lines; wcoord.properties values are single-line" $s) -}}
{{- end -}}
{{- $s -}}
{{- end -}}
{{- end -}}

{{/* Keys the chart sets itself (from other values or the pod's environment). */}}
{{- define "wcoord.chartOwnedKeys" -}}
bootstrap.servers group.id topics topics.regex state.dir http.listen http.threads http.request.timeout http.docs.enabled http.docs.listen http.docs.token.file log.format log.level shutdown.timeout store.block.cache.bytes store.write.buffer.bytes group.instance.id
{{- end -}}

{{/* Where the bearer token of document reads is mounted (http.docs.token.file). */}}
{{- define "wcoord.docsTokenDir" -}}/etc/wcoord-docs{{- end -}}
{{- define "wcoord.docsTokenPath" -}}{{ include "wcoord.docsTokenDir" . }}/token{{- end -}}

{{/* Checks run by every template that depends on them (the first failure stops rendering). */}}
{{- define "wcoord.validate" -}}
{{- $owned := splitList " " (include "wcoord.chartOwnedKeys" .) -}}
{{- range $k, $v := .Values.config -}}
{{- if has $k $owned -}}
{{- fail (printf "config.%s is set by the chart; use the dedicated value (see values.yaml)" $k) -}}
{{- end -}}
{{- if hasPrefix "kafka." $k -}}
{{- fail (printf "config.%s: put librdkafka properties under kafka.properties (without the kafka. prefix)" $k) -}}
{{- end -}}
{{- end -}}
{{- range $k, $v := .Values.kafka.properties -}}
{{- $lk := lower $k -}}
{{- if or (contains "password" $lk) (contains "secret" $lk) (contains "jaas" $lk) (eq $lk "sasl.username") (contains "token" $lk) -}}
{{- fail (printf "kafka.properties.%s looks like a credential; keep credentials in a Secret (kafka.sasl.existingSecret)" $k) -}}
{{- end -}}
{{- if has $lk (list "bootstrap.servers" "group.id" "group.instance.id" "security.protocol" "sasl.mechanism" "sasl.mechanisms") -}}
{{- fail (printf "kafka.properties.%s is set by the chart from kafka.* values" $k) -}}
{{- end -}}
{{- end -}}
{{- if not .Values.kafka.bootstrapServers -}}
{{- fail "kafka.bootstrapServers is required (without it wcoord starts an embedded demo cluster)" -}}
{{- end -}}
{{- if and .Values.kafka.topics .Values.kafka.topicsRegex -}}
{{- fail "set kafka.topics or kafka.topicsRegex, not both" -}}
{{- end -}}
{{- if not (or .Values.kafka.topics .Values.kafka.topicsRegex) -}}
{{- fail "set kafka.topics or kafka.topicsRegex" -}}
{{- end -}}
{{- $parts := int64 .Values.kafka.partitions -}}
{{- if gt $parts 0 -}}
{{- if and (not .Values.keda.enabled) (gt (int64 .Values.replicaCount) $parts) -}}
{{- fail (printf "replicaCount %d exceeds kafka.partitions %d: the extra instances would get no partitions" (int64 .Values.replicaCount) $parts) -}}
{{- end -}}
{{- if and .Values.keda.enabled (gt (int64 .Values.keda.maxReplicaCount) $parts) -}}
{{- fail (printf "keda.maxReplicaCount %d exceeds kafka.partitions %d: the extra instances would get no partitions" (int64 .Values.keda.maxReplicaCount) $parts) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.keda.enabled (gt (int64 .Values.keda.minReplicaCount) (int64 .Values.keda.maxReplicaCount)) -}}
{{- fail "keda.minReplicaCount must not exceed keda.maxReplicaCount" -}}
{{- end -}}
{{- with .Values.http.docs -}}
{{- if and .enabled (not .tokenSecret.name) (not .allowWithoutToken) -}}
{{- fail "http.docs.enabled serves every document's source: it needs http.docs.tokenSecret.name (a Secret with the bearer token), or http.docs.allowWithoutToken=true to rely on networkPolicy.docs.from alone" -}}
{{- end -}}
{{- if and .enabled (eq (int64 .port) (int64 $.Values.http.port)) -}}
{{- fail "http.docs.port must differ from http.port: document reads have a listener of their own" -}}
{{- end -}}
{{- end -}}
{{- if lt (int64 .Values.shutdownTimeoutSeconds) 1 -}}
{{- fail "shutdownTimeoutSeconds must be at least 1" -}}
{{- end -}}
{{- $_ := include "wcoord.rocksdbMemory" . -}}
{{- end -}}

{{/* KEDA's SASL mode and TLS switch, derived from the librdkafka settings unless given. */}}
{{- define "wcoord.kedaSasl" -}}
{{- if .Values.keda.sasl -}}{{ .Values.keda.sasl }}
{{- else -}}
{{- $m := upper (toString .Values.kafka.saslMechanism) -}}
{{- if eq $m "SCRAM-SHA-512" -}}scram_sha512
{{- else if eq $m "SCRAM-SHA-256" -}}scram_sha256
{{- else if eq $m "PLAIN" -}}plaintext
{{- else if eq $m "OAUTHBEARER" -}}oauthbearer
{{- else if eq $m "" -}}
{{- else -}}{{ fail (printf "cannot derive KEDA's sasl mode from kafka.saslMechanism %q; set keda.sasl" .Values.kafka.saslMechanism) }}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "wcoord.kedaTls" -}}
{{- if .Values.keda.tls -}}{{ .Values.keda.tls }}
{{- else if has (upper (toString .Values.kafka.securityProtocol)) (list "SSL" "SASL_SSL") -}}enable
{{- end -}}
{{- end -}}
