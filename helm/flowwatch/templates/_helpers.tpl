{{/* Names and labels ------------------------------------------------------------------------------------ */}}

{{- define "flowwatch.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "flowwatch.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "flowwatch.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "flowwatch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: flowwatch
{{- end -}}

{{/* selector labels of one component: (dict "ctx" $ "component" "detector") */}}
{{- define "flowwatch.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flowwatch.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "flowwatch.componentLabels" -}}
{{ include "flowwatch.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "flowwatch.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "flowwatch.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "flowwatch.secretName" -}}
{{- default (printf "%s-secrets" (include "flowwatch.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{/* image of one component: (dict "ctx" $ "image" .Values.detector.image) */}}
{{- define "flowwatch.image" -}}
{{- $g := .ctx.Values.global -}}
{{- $repo := printf "%s%s" (default "" $g.imageRegistry) .image.repository -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $repo .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (.image.tag | default $g.imageTag | default .ctx.Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* Environment ----------------------------------------------------------------------------------------- */}}

{{/* env of the secrets: (dict "ctx" $ "hashKey" true "es" true) */}}
{{- define "flowwatch.secretEnv" -}}
{{- $s := .ctx.Values.secrets -}}
{{- $name := include "flowwatch.secretName" .ctx -}}
{{- if .hashKey }}
- name: FLOWWATCH_HASH_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $name }}
      key: {{ $s.keys.hashKey }}
{{- end }}
{{- if .kafka }}
{{- range $var, $key := dict "FLOWWATCH_KAFKA_SASL_USERNAME" $s.keys.kafkaSaslUsername "FLOWWATCH_KAFKA_SASL_PASSWORD" $s.keys.kafkaSaslPassword "FLOWWATCH_KAFKA_SSL_KEY_PASSWORD" $s.keys.kafkaSslKeyPassword }}
- name: {{ $var }}
  valueFrom:
    secretKeyRef:
      name: {{ $name }}
      key: {{ $key }}
      optional: true
{{- end }}
{{- end }}
{{- if .es }}
- name: FLOWWATCH_ES_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $name }}
      key: {{ $s.keys.esApiKey }}
      optional: true
- name: FLOWWATCH_ES_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ $name }}
      key: {{ $s.keys.esUsername }}
      optional: true
- name: FLOWWATCH_ES_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $name }}
      key: {{ $s.keys.esPassword }}
      optional: true
{{- end }}
{{- end -}}

{{/* Non-secret Kafka and Elasticsearch security settings (the common ConfigMap and the init Job) */}}
{{- define "flowwatch.securityEnv" -}}
{{- $k := .Values.kafka.security -}}
{{- $e := .Values.elasticsearch -}}
FLOWWATCH_KAFKA_SECURITY_PROTOCOL: {{ $k.protocol | quote }}
FLOWWATCH_KAFKA_SASL_MECHANISM: {{ $k.saslMechanism | quote }}
FLOWWATCH_KAFKA_SSL_CHECK_HOSTNAME: {{ $k.checkHostname | toString | quote }}
FLOWWATCH_KAFKA_SSL_CA_FILE: {{ ternary (printf "/etc/flowwatch/kafka-tls/%s" $k.tls.caKey) "" (and (not (empty $k.tls.existingSecret)) (not (empty $k.tls.caKey))) | quote }}
FLOWWATCH_KAFKA_SSL_CERT_FILE: {{ ternary (printf "/etc/flowwatch/kafka-tls/%s" $k.tls.certKey) "" (and (not (empty $k.tls.existingSecret)) (not (empty $k.tls.certKey))) | quote }}
FLOWWATCH_KAFKA_SSL_KEY_FILE: {{ ternary (printf "/etc/flowwatch/kafka-tls/%s" $k.tls.keyKey) "" (and (not (empty $k.tls.existingSecret)) (not (empty $k.tls.keyKey))) | quote }}
FLOWWATCH_ES_CLOUD_ID: {{ $e.cloudId | quote }}
FLOWWATCH_ES_VERIFY_CERTS: {{ $e.verifyCerts | toString | quote }}
FLOWWATCH_ES_SSL_FINGERPRINT: {{ $e.sslFingerprint | quote }}
FLOWWATCH_ES_CA_FILE: {{ ternary (printf "/etc/flowwatch/es-tls/%s" $e.tls.caKey) "" (not (empty $e.tls.existingSecret)) | quote }}
{{- end -}}

{{/* volumes and mounts of the TLS Secrets: (dict "ctx" $ "mounts" true) for volumeMounts, else volumes */}}
{{- define "flowwatch.tlsVolumes" -}}
{{- $k := .ctx.Values.kafka.security.tls -}}
{{- $e := .ctx.Values.elasticsearch.tls -}}
{{- if .mounts }}
{{- if $k.existingSecret }}
- name: kafka-tls
  mountPath: /etc/flowwatch/kafka-tls
  readOnly: true
{{- end }}
{{- if $e.existingSecret }}
- name: es-tls
  mountPath: /etc/flowwatch/es-tls
  readOnly: true
{{- end }}
{{- else }}
{{- if $k.existingSecret }}
- name: kafka-tls
  secret:
    secretName: {{ $k.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- if $e.existingSecret }}
- name: es-tls
  secret:
    secretName: {{ $e.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- end }}
{{- end -}}

{{/* KEDA's kafka scaler spelling of the SASL mechanism */}}
{{- define "flowwatch.kedaSasl" -}}
{{- $m := .Values.kafka.security.saslMechanism -}}
{{- if eq $m "PLAIN" }}plaintext{{ else if eq $m "SCRAM-SHA-256" }}scram_sha256{{ else }}scram_sha512{{ end -}}
{{- end -}}

{{/* FLOWWATCH_TOPIC_* of the values (the ConfigMap and the init Job) */}}
{{- define "flowwatch.topicsEnv" -}}
{{- $t := .Values.topics -}}
FLOWWATCH_TOPIC_PARTITIONS: {{ int .Values.kafka.partitions | quote }}
FLOWWATCH_TOPIC_FLOW_EVENTS: {{ $t.flowEvents | quote }}
FLOWWATCH_TOPIC_DEAD_LETTERS: {{ $t.deadLetters | quote }}
FLOWWATCH_TOPIC_FINDINGS: {{ $t.findings | quote }}
FLOWWATCH_TOPIC_INCIDENT_UPDATES: {{ $t.incidentUpdates | quote }}
FLOWWATCH_TOPIC_INCIDENTS: {{ $t.incidents | quote }}
FLOWWATCH_TOPIC_ALERTS: {{ $t.alerts | quote }}
FLOWWATCH_TOPIC_EXPORT_UPDATES: {{ $t.exportUpdates | quote }}
FLOWWATCH_TOPIC_EXPORT_LEDGER: {{ $t.exportLedger | quote }}
FLOWWATCH_TOPIC_REGISTRY: {{ $t.registry | quote }}
{{- end -}}

{{/* Retention (legal minimums: docs/law.md, Retention) -------------------------------------------------- */}}

{{/* values key -> record class of flowwatch.cluster (file name of the policy) */}}
{{- define "flowwatch.recordClasses" -}}
networkLogs: network-logs
exportRecords: export-records
consentRecords: consent-records
incidents: incidents
{{- end -}}

{{/* Legal minimum in days, over the longest calendar span (the same table as flowwatch.cluster):
     networkLogs     CSL Art. 21(3)            ">= 6 months"  -> 184 days (1 July to 1 January)
     exportRecords   Draft Regs Art. 39(6)     ">= 3 years"   -> 1,096 days (with a leap day); also Art. 32
                     risk-assessment reports and PIPL Art. 56 PIA records (>= 3 years)
     consentRecords  Draft Regs Art. 12(3)     ">= 5 years"   -> 1,827 days (with two leap days): consent
                     records, logs of providing PI to third parties, approvals for important data
     incidents       no article sets a period: as long as the longest related record -> 1,827 days
     Draft Regs: the 2021 draft Network Data Security Regulations (网络数据安全管理条例（征求意见稿）) */}}
{{- define "flowwatch.legalMinimumDays" -}}
networkLogs: 184
exportRecords: 1096
consentRecords: 1827
incidents: 1827
{{- end -}}

{{/* ILM policy body of one record class: (dict "ctx" $ "class" "networkLogs") */}}
{{- define "flowwatch.ilmPolicy" -}}
{{- $r := .ctx.Values.retention -}}
{{- $days := int (index $r (printf "%sDays" .class)) -}}
{{- $minimum := int (index (include "flowwatch.legalMinimumDays" .ctx | fromYaml) .class) -}}
{{- $classes := include "flowwatch.recordClasses" .ctx | fromYaml -}}
{{- $policy := dict
  "_meta" (dict "managed_by" "flowwatch" "record_class" (index $classes .class) "legal_minimum_days" $minimum
                "retention_days" $days)
  "phases" (dict
    "hot" (dict "min_age" "0ms" "actions" (dict "set_priority" (dict "priority" 100)))
    "delete" (dict "min_age" (printf "%dd" (add $days (int $r.indexPeriodDays))) "actions" (dict "delete" (dict))))
-}}
{{- dict "policy" $policy | toPrettyJson -}}
{{- end -}}

{{/* Validation: impossible values fail the render with the reason ------------------------------------------ */}}

{{- define "flowwatch.validate" -}}
{{- $v := .Values -}}
{{- $partitions := int $v.kafka.partitions -}}
{{- if lt $partitions 1 -}}
{{- fail (printf "kafka.partitions must be at least 1 (got %v)" $v.kafka.partitions) -}}
{{- end -}}
{{- if lt (int $v.kafka.replicationFactor) 1 -}}
{{- fail "kafka.replicationFactor must be at least 1" -}}
{{- end -}}
{{- if not $v.kafka.bootstrap -}}
{{- fail "kafka.bootstrap is empty (FLOWWATCH_KAFKA_BOOTSTRAP, host:port[,host:port])" -}}
{{- end -}}
{{- if not (regexMatch "^https?://" (toString $v.elasticsearch.url)) -}}
{{- fail (printf "elasticsearch.url must be an http(s) URL (got %q)" (toString $v.elasticsearch.url)) -}}
{{- end -}}
{{- /* the detector: every worker needs a partition; the deadline timers need at least one worker */ -}}
{{- $d := $v.detector -}}
{{- if $d.keda.enabled -}}
{{- if lt (int $d.keda.minReplicas) 1 -}}
{{- fail "detector.keda.minReplicas must be at least 1: the incident deadline timers run in the detector workers" -}}
{{- end -}}
{{- if gt (int $d.keda.minReplicas) (int $d.keda.maxReplicas) -}}
{{- fail (printf "detector.keda.minReplicas (%d) exceeds detector.keda.maxReplicas (%d)" (int $d.keda.minReplicas) (int $d.keda.maxReplicas)) -}}
{{- end -}}
{{- if gt (int $d.keda.maxReplicas) $partitions -}}
{{- fail (printf "detector.keda.maxReplicas (%d) exceeds kafka.partitions (%d): a detector worker without a partition does nothing" (int $d.keda.maxReplicas) $partitions) -}}
{{- end -}}
{{- else -}}
{{- if lt (int $d.replicas) 1 -}}
{{- fail "detector.replicas must be at least 1: the incident deadline timers run in the detector workers" -}}
{{- end -}}
{{- if gt (int $d.replicas) $partitions -}}
{{- fail (printf "detector.replicas (%d) exceeds kafka.partitions (%d): a detector worker without a partition does nothing" (int $d.replicas) $partitions) -}}
{{- end -}}
{{- end -}}
{{- if not (has (toString $d.faustStore) (list "rocksdb://" "memory://")) -}}
{{- fail (printf "detector.faustStore must be rocksdb:// or memory:// (got %q)" (toString $d.faustStore)) -}}
{{- end -}}
{{- if not (gt (float64 $d.loopProbeInterval) 0.0) -}}
{{- fail "detector.loopProbeInterval must be > 0: the detector's probes read the loop monitor's reports" -}}
{{- end -}}
{{- if not (hasPrefix "/" (toString $d.dataDir)) -}}
{{- fail "detector.dataDir must be an absolute path" -}}
{{- end -}}
{{- /* the indexer (range assignment per topic: more consumers than partitions idle) and the API */ -}}
{{- range $name := list "indexer" "api" -}}
{{- $c := index $v $name -}}
{{- if $c.autoscaling.enabled -}}
{{- if lt (int $c.autoscaling.minReplicas) 1 -}}
{{- fail (printf "%s.autoscaling.minReplicas must be at least 1" $name) -}}
{{- end -}}
{{- if gt (int $c.autoscaling.minReplicas) (int $c.autoscaling.maxReplicas) -}}
{{- fail (printf "%s.autoscaling.minReplicas (%d) exceeds %s.autoscaling.maxReplicas (%d)" $name (int $c.autoscaling.minReplicas) $name (int $c.autoscaling.maxReplicas)) -}}
{{- end -}}
{{- else if lt (int $c.replicas) 1 -}}
{{- fail (printf "%s.replicas must be at least 1" $name) -}}
{{- end -}}
{{- end -}}
{{- $i := $v.indexer -}}
{{- $indexerMax := ternary (int $i.autoscaling.maxReplicas) (int $i.replicas) (and $i.autoscaling.enabled true) -}}
{{- if gt $indexerMax $partitions -}}
{{- fail (printf "indexer replicas (up to %d) exceed kafka.partitions (%d): the extra consumers would idle" $indexerMax $partitions) -}}
{{- end -}}
{{- if or (lt (int $v.api.port) 1024) (gt (int $v.api.port) 65535) -}}
{{- fail (printf "api.port must be 1024-65535 for a non-root container (got %v)" $v.api.port) -}}
{{- end -}}
{{- /* Kafka and Elasticsearch security */ -}}
{{- $ks := $v.kafka.security -}}
{{- if not (has (toString $ks.protocol) (list "PLAINTEXT" "SSL" "SASL_PLAINTEXT" "SASL_SSL")) -}}
{{- fail (printf "kafka.security.protocol must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (got %q)" (toString $ks.protocol)) -}}
{{- end -}}
{{- if not (has (toString $ks.saslMechanism) (list "PLAIN" "SCRAM-SHA-256" "SCRAM-SHA-512")) -}}
{{- fail (printf "kafka.security.saslMechanism must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (got %q)" (toString $ks.saslMechanism)) -}}
{{- end -}}
{{- if and $ks.tls.existingSecret (not (has (toString $ks.protocol) (list "SSL" "SASL_SSL"))) -}}
{{- fail (printf "kafka.security.tls.existingSecret is set but kafka.security.protocol %s does not use TLS: use SSL or SASL_SSL" (toString $ks.protocol)) -}}
{{- end -}}
{{- if ne (empty $ks.tls.certKey) (empty $ks.tls.keyKey) -}}
{{- fail "kafka.security.tls: mutual TLS needs both certKey and keyKey" -}}
{{- end -}}
{{- if and (hasPrefix "SASL_" (toString $ks.protocol)) (not $v.secrets.existingSecret) (not (and $v.secrets.kafkaSaslUsername $v.secrets.kafkaSaslPassword)) -}}
{{- fail (printf "kafka.security.protocol %s needs secrets.kafkaSaslUsername and secrets.kafkaSaslPassword (or secrets.existingSecret holding %s and %s)" (toString $ks.protocol) $v.secrets.keys.kafkaSaslUsername $v.secrets.keys.kafkaSaslPassword) -}}
{{- end -}}
{{- if and $v.elasticsearch.tls.existingSecret $v.elasticsearch.sslFingerprint -}}
{{- fail "elasticsearch: set tls.existingSecret (a CA bundle) or sslFingerprint, not both" -}}
{{- end -}}
{{- /* secrets: from a Kubernetes Secret only */ -}}
{{- if and (not $v.secrets.existingSecret) (not $v.secrets.hashKey) -}}
{{- fail "secrets.hashKey is empty and secrets.existingSecret is not set: the detector needs FLOWWATCH_HASH_KEY (HMAC key of subject hashes). Set secrets.existingSecret to a Secret you manage, or pass secrets.hashKey (e.g. --set secrets.hashKey=$(openssl rand -hex 32))" -}}
{{- end -}}
{{- if and $v.secrets.existingSecret (or $v.secrets.hashKey $v.secrets.esPassword $v.secrets.esApiKey $v.secrets.kafkaSaslPassword $v.secrets.kafkaSslKeyPassword) -}}
{{- fail "secrets.existingSecret is set: leave secrets.hashKey, esPassword, esApiKey, kafkaSaslPassword and kafkaSslKeyPassword empty (they would be ignored)" -}}
{{- end -}}
{{- /* images: pinned */ -}}
{{- range $name := list "detector" "indexer" "api" -}}
{{- $img := (index $v $name).image -}}
{{- if and (not $img.digest) (eq ($img.tag | default $v.global.imageTag | default $.Chart.AppVersion | toString) "latest") -}}
{{- fail (printf "%s.image: the tag \"latest\" is not a pinned image; use a version or a digest" $name) -}}
{{- end -}}
{{- if and $img.digest (not (regexMatch "^sha256:[0-9a-f]{64}$" (toString $img.digest))) -}}
{{- fail (printf "%s.image.digest must be sha256:<64 hex digits>" $name) -}}
{{- end -}}
{{- end -}}
{{- /* retention: never below the legal minimum (docs/law.md, Retention) */ -}}
{{- $minimums := include "flowwatch.legalMinimumDays" . | fromYaml -}}
{{- range $class := keys $minimums | sortAlpha -}}
{{- $key := printf "%sDays" $class -}}
{{- $days := index $v.retention $key -}}
{{- if not (or (kindIs "float64" $days) (kindIs "int" $days) (kindIs "int64" $days)) -}}
{{- fail (printf "retention.%s must be a number of days" $key) -}}
{{- end -}}
{{- if lt (int $days) (int (index $minimums $class)) -}}
{{- fail (printf "retention.%s (%d) is below the legal minimum of %d days (docs/law.md, Retention)" $key (int $days) (int (index $minimums $class))) -}}
{{- end -}}
{{- end -}}
{{- if lt (int $v.retention.indexPeriodDays) 31 -}}
{{- fail "retention.indexPeriodDays must be at least 31: a time-based index (daily findings, monthly alerts) keeps receiving records for up to a month" -}}
{{- end -}}
{{- $classes := include "flowwatch.recordClasses" . | fromYaml -}}
{{- range $template, $class := $v.ilm.bindings -}}
{{- if not (hasKey $classes (toString $class)) -}}
{{- fail (printf "ilm.bindings.%s: unknown record class %q (known: %s)" $template (toString $class) (keys $classes | sortAlpha | join ", ")) -}}
{{- end -}}
{{- if ne $template "findings" -}}
{{- fail (printf "ilm.bindings.%s: only time-based indices (findings) may be bound; ILM would delete the whole %s index, recent records included" $template $template) -}}
{{- end -}}
{{- end -}}
{{- end -}}
