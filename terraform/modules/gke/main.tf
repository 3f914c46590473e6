data "google_project" "this" {
  count      = var.project_number == null ? 1 : 0
  project_id = var.project_id
}

locals {
  project_number = var.project_number != null ? var.project_number : data.google_project.this[0].number

  # Workload Identity Federation for GKE: the Kubernetes service account
  # itself is the principal, so no Google service account and no key.
  workload_identity_member = "principal://iam.googleapis.com/projects/${local.project_number}/locations/global/workloadIdentityPools/${var.project_id}.svc.id.goog/subject/ns/${var.namespace}/sa/${var.service_account_name}"

  daemon_config = var.daemon_config != null ? var.daemon_config : templatefile("${path.module}/templates/nightjar.hcl.tftpl", {
    append_output = merge(var.cluster_name != null ? { cluster = var.cluster_name } : {}, var.append_output)
    min_priority  = var.min_priority
  })
  routes_config = templatefile("${path.module}/templates/routes.hcl.tftpl", {
    project_id       = var.project_id
    log_name         = var.log_name
    cluster_name     = var.cluster_name
    cluster_location = var.cluster_location
    extra_routes     = var.extra_routes
  })
  fluent_bit_config = templatefile("${path.module}/templates/fluent-bit.conf.tftpl", {
    workers       = var.fluent_bit_workers
    storage_limit = var.fluent_bit_storage_limit
  })
  plugins_config = file("${path.module}/templates/plugins.conf")

  labels = merge(var.labels, {
    "app.kubernetes.io/name"       = "nightjar"
    "app.kubernetes.io/component"  = "node-agent"
    "app.kubernetes.io/managed-by" = "terraform"
  })
  selector = {
    "app.kubernetes.io/name"      = "nightjar"
    "app.kubernetes.io/component" = "node-agent"
  }

  # Capabilities of the daemon: BPF and PERFMON load and attach the BTF
  # tracepoint programs, SYS_RESOURCE lifts the memlock limit older kernels
  # charge BPF maps to, SYS_PTRACE and DAC_READ_SEARCH read /proc/<pid>/exe,
  # cwd, fd and environ of every process on the node.
  # The two shapes differ, so a tuple index picks one (a conditional needs
  # both sides of one type).
  daemon_security = [{ privileged = true }, {
    privileged               = false
    allowPrivilegeEscalation = false
    readOnlyRootFilesystem   = true
    runAsUser                = 0
    capabilities = {
      drop = ["ALL"]
      add  = ["BPF", "PERFMON", "SYS_RESOURCE", "SYS_PTRACE", "DAC_READ_SEARCH"]
    }
    # Older runtimes' default seccomp profiles admit bpf() and
    # perf_event_open() only with SYS_ADMIN; unconfined profiles leave the
    # capabilities as the only gate.
    seccompProfile  = { type = "Unconfined" }
    appArmorProfile = { type = "Unconfined" }
  }][var.privileged ? 0 : 1]

  manifests = {
    namespace = {
      apiVersion = "v1"
      kind       = "Namespace"
      metadata   = { name = var.namespace, labels = local.labels }
    }
    # GKE admits system-node-critical pods outside kube-system only in a
    # namespace whose quota names that priority class.
    resource_quota = {
      apiVersion = "v1"
      kind       = "ResourceQuota"
      metadata   = { name = "nightjar-critical-pods", namespace = var.namespace, labels = local.labels }
      spec = {
        hard = { pods = "1G" }
        scopeSelector = {
          matchExpressions = [{ operator = "In", scopeName = "PriorityClass", values = ["system-node-critical"] }]
        }
      }
    }
    service_account = {
      apiVersion = "v1"
      kind       = "ServiceAccount"
      metadata   = { name = var.service_account_name, namespace = var.namespace, labels = local.labels }
    }
    daemon_config = {
      apiVersion = "v1"
      kind       = "ConfigMap"
      metadata   = { name = "nightjar-daemon", namespace = var.namespace, labels = local.labels }
      data       = { "nightjar.hcl" = local.daemon_config }
    }
    routes_config = {
      apiVersion = "v1"
      kind       = "ConfigMap"
      metadata   = { name = "nightjar-routes", namespace = var.namespace, labels = local.labels }
      data       = { "routes.hcl" = local.routes_config }
    }
    fluent_bit_config = {
      apiVersion = "v1"
      kind       = "ConfigMap"
      metadata   = { name = "nightjar-fluent-bit", namespace = var.namespace, labels = local.labels }
      data       = { "fluent-bit.conf" = local.fluent_bit_config, "plugins.conf" = local.plugins_config }
    }
    daemonset = {
      apiVersion = "apps/v1"
      kind       = "DaemonSet"
      metadata   = { name = "nightjar", namespace = var.namespace, labels = local.labels }
      spec = {
        selector       = { matchLabels = local.selector }
        updateStrategy = { type = "RollingUpdate", rollingUpdate = { maxUnavailable = "10%" } }
        template = {
          metadata = {
            labels = local.labels
            annotations = {
              "nightjar.dev/config-sha256" = sha256(join("\n", [local.daemon_config, local.routes_config, local.fluent_bit_config]))
            }
          }
          spec = {
            serviceAccountName            = var.service_account_name
            priorityClassName             = "system-node-critical"
            hostPID                       = true
            terminationGracePeriodSeconds = 30
            nodeSelector                  = { "kubernetes.io/os" = "linux" }
            # Every node, whatever its taints.
            tolerations = [{ operator = "Exists" }]
            containers = [
              {
                name            = "nightjar"
                image           = var.daemon_image
                imagePullPolicy = var.image_pull_policy
                args            = ["run", "--config", "/etc/nightjar/nightjar.hcl"]
                env = [
                  { name = "NODE_NAME", valueFrom = { fieldRef = { fieldPath = "spec.nodeName" } } },
                ]
                ports           = [{ name = "metrics", containerPort = 9376, protocol = "TCP" }]
                securityContext = local.daemon_security
                resources       = var.daemon_resources
                livenessProbe = {
                  httpGet             = { path = "/healthz", port = "metrics" }
                  initialDelaySeconds = 30
                  periodSeconds       = 30
                  timeoutSeconds      = 5
                  failureThreshold    = 3
                }
                volumeMounts = [
                  { name = "config", mountPath = "/etc/nightjar/nightjar.hcl", subPath = "nightjar.hcl", readOnly = true },
                  { name = "socket", mountPath = "/var/run/nightjar" },
                  { name = "state", mountPath = "/var/lib/nightjar/spool", subPath = "spool" },
                  { name = "btf", mountPath = "/sys/kernel/btf", readOnly = true },
                  { name = "cgroup", mountPath = "/host/sys/fs/cgroup", readOnly = true },
                  { name = "containerd", mountPath = "/run/containerd/containerd.sock", readOnly = true },
                ]
              },
              {
                name            = "fluent-bit"
                image           = var.fluent_bit_image
                imagePullPolicy = var.image_pull_policy
                args            = ["-c", "/etc/fluent-bit/fluent-bit.conf"]
                ports = [
                  { name = "fb-http", containerPort = 2020, protocol = "TCP" },
                  { name = "plugin-metrics", containerPort = 2021, protocol = "TCP" },
                ]
                securityContext = {
                  allowPrivilegeEscalation = false
                  readOnlyRootFilesystem   = true
                  capabilities             = { drop = ["ALL"] }
                }
                resources = var.fluent_bit_resources
                livenessProbe = {
                  httpGet             = { path = "/api/v1/health", port = "fb-http" }
                  initialDelaySeconds = 15
                  periodSeconds       = 30
                  timeoutSeconds      = 5
                  failureThreshold    = 3
                }
                volumeMounts = [
                  { name = "fluent-bit-config", mountPath = "/etc/fluent-bit", readOnly = true },
                  { name = "routes", mountPath = "/etc/nightjar/routes.hcl", subPath = "routes.hcl", readOnly = true },
                  { name = "socket", mountPath = "/var/run/nightjar" },
                  { name = "state", mountPath = "/var/lib/nightjar/fluent-bit", subPath = "fluent-bit" },
                ]
              },
            ]
            volumes = [
              { name = "config", configMap = { name = "nightjar-daemon" } },
              { name = "routes", configMap = { name = "nightjar-routes" } },
              { name = "fluent-bit-config", configMap = { name = "nightjar-fluent-bit" } },
              # The forward socket, shared by the two containers of the pod.
              { name = "socket", emptyDir = { medium = "Memory", sizeLimit = "1Mi" } },
              # The daemon's spool and Fluent Bit's chunks survive restarts
              # of either container and of the pod.
              { name = "state", hostPath = { path = "/var/lib/nightjar", type = "DirectoryOrCreate" } },
              { name = "btf", hostPath = { path = "/sys/kernel/btf", type = "Directory" } },
              { name = "cgroup", hostPath = { path = "/sys/fs/cgroup", type = "Directory" } },
              { name = "containerd", hostPath = { path = "/run/containerd/containerd.sock", type = "Socket" } },
            ]
          }
        }
      }
    }
    pod_monitoring = {
      apiVersion = "monitoring.googleapis.com/v1"
      kind       = "PodMonitoring"
      metadata   = { name = "nightjar", namespace = var.namespace, labels = local.labels }
      spec = {
        selector = { matchLabels = local.selector }
        endpoints = [
          { port = "metrics", path = "/metrics", interval = var.scrape_interval },
          { port = "plugin-metrics", path = "/metrics", interval = var.scrape_interval },
          { port = "fb-http", path = "/api/v2/metrics/prometheus", interval = var.scrape_interval },
        ]
        targetLabels = { metadata = ["pod", "container", "node"] }
      }
    }
  }

  # The order of the documents in manifests_yaml: what a namespace holds
  # after the namespace.
  manifest_order = ["namespace", "resource_quota", "service_account", "daemon_config", "routes_config", "fluent_bit_config", "daemonset", "pod_monitoring"]
}

resource "kubernetes_manifest" "namespace" {
  count = var.apply_manifests ? 1 : 0

  manifest = local.manifests.namespace
}

resource "kubernetes_manifest" "this" {
  for_each = { for k, v in local.manifests : k => v if k != "namespace" && var.apply_manifests && (k != "pod_monitoring" || var.pod_monitoring) }

  manifest = each.value

  depends_on = [kubernetes_manifest.namespace]
}

resource "google_project_iam_member" "log_writer" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = local.workload_identity_member
}

resource "google_project_iam_member" "metric_writer" {
  project = var.project_id
  role    = "roles/monitoring.metricWriter"
  member  = local.workload_identity_member
}
