{{- define "modeltrail.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "modeltrail.fullname" -}}
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

{{- define "modeltrail.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "modeltrail.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: include with (dict "ctx" $ "component" "proxy"). */}}
{{- define "modeltrail.selector" -}}
app.kubernetes.io/name: {{ include "modeltrail.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "modeltrail.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "modeltrail.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "modeltrail.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "modeltrail.secretName" -}}
{{- default (printf "%s-keys" (include "modeltrail.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{/* Kafka connection env, the same for every service. */}}
{{- define "modeltrail.kafkaEnv" -}}
- {name: MODELTRAIL_KAFKA__BOOTSTRAP_SERVERS, value: {{ required "kafka.bootstrapServers is required" .Values.kafka.bootstrapServers | quote }}}
- {name: MODELTRAIL_KAFKA__TOPIC_PREFIX, value: {{ .Values.kafka.topicPrefix | quote }}}
- {name: MODELTRAIL_KAFKA__PARTITIONS, value: {{ .Values.kafka.partitions | quote }}}
- {name: MODELTRAIL_KAFKA__REPLICATION_FACTOR, value: {{ .Values.kafka.replicationFactor | quote }}}
- {name: MODELTRAIL_KAFKA__SECURITY_PROTOCOL, value: {{ .Values.kafka.securityProtocol | quote }}}
{{- if .Values.kafka.saslMechanism }}
- {name: MODELTRAIL_KAFKA__SASL_MECHANISM, value: {{ .Values.kafka.saslMechanism | quote }}}
- {name: MODELTRAIL_KAFKA__SASL_USERNAME, value: {{ .Values.kafka.saslUsername | quote }}}
- name: MODELTRAIL_KAFKA__SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ required "kafka.saslPasswordSecret.name is required with SASL" .Values.kafka.saslPasswordSecret.name }}
      key: {{ .Values.kafka.saslPasswordSecret.key }}
{{- end }}
{{- end -}}

{{- define "modeltrail.kafkaVolume" -}}
{{- if .Values.kafka.tlsSecret }}
- name: kafka-tls
  secret:
    secretName: {{ .Values.kafka.tlsSecret }}
{{- end }}
{{- end -}}

{{- define "modeltrail.kafkaMount" -}}
{{- if .Values.kafka.tlsSecret }}
- {name: kafka-tls, mountPath: /etc/modeltrail/kafka-tls, readOnly: true}
{{- end }}
{{- end -}}

{{- define "modeltrail.extraEnv" -}}
{{- range $k, $v := . }}
- {name: {{ $k }}, value: {{ $v | quote }}}
{{- end }}
{{- end -}}

{{- define "modeltrail.podCommon" -}}
serviceAccountName: {{ include "modeltrail.serviceAccountName" . }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
