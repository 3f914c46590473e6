locals {
  alerts_metric = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.alerts.name}\""

  dashboard = {
    displayName = "nightjar${var.cluster_name != null ? ": ${var.cluster_name}" : ""}"
    mosaicLayout = {
      columns = 48
      tiles = [
        {
          xPos = 0, yPos = 0, width = 24, height = 16
          widget = {
            title = "Alerts by priority"
            xyChart = {
              chartOptions = { mode = "COLOR" }
              dataSets = [{
                plotType   = "STACKED_BAR"
                targetAxis = "Y1"
                timeSeriesQuery = {
                  timeSeriesFilter = {
                    filter = local.alerts_metric
                    aggregation = {
                      alignmentPeriod    = "60s"
                      perSeriesAligner   = "ALIGN_SUM"
                      crossSeriesReducer = "REDUCE_SUM"
                      groupByFields      = ["metric.label.\"priority\""]
                    }
                  }
                }
              }]
            }
          }
        },
        {
          xPos = 24, yPos = 0, width = 24, height = 16
          widget = {
            title = "Alerts by rule"
            xyChart = {
              chartOptions = { mode = "COLOR" }
              dataSets = [{
                plotType   = "STACKED_BAR"
                targetAxis = "Y1"
                timeSeriesQuery = {
                  timeSeriesFilter = {
                    filter = local.alerts_metric
                    aggregation = {
                      alignmentPeriod    = "60s"
                      perSeriesAligner   = "ALIGN_SUM"
                      crossSeriesReducer = "REDUCE_SUM"
                      groupByFields      = ["metric.label.\"rule\""]
                    }
                  }
                }
              }]
            }
          }
        },
        {
          xPos = 0, yPos = 16, width = 24, height = 16
          widget = {
            title = "Top pods and containers by alerts"
            timeSeriesTable = {
              columnSettings = [
                { column = "resource.label.namespace_name", visible = true },
                { column = "resource.label.pod_name", visible = true },
                { column = "resource.label.container_name", visible = true },
              ]
              dataSets = [{
                timeSeriesQuery = {
                  timeSeriesFilter = {
                    filter = "${local.alerts_metric} resource.type=\"k8s_container\""
                    aggregation = {
                      alignmentPeriod    = "3600s"
                      perSeriesAligner   = "ALIGN_SUM"
                      crossSeriesReducer = "REDUCE_SUM"
                      groupByFields      = ["resource.label.\"namespace_name\"", "resource.label.\"pod_name\"", "resource.label.\"container_name\""]
                    }
                    pickTimeSeriesFilter = { rankingMethod = "METHOD_SUM", numTimeSeries = 10, direction = "TOP" }
                  }
                }
              }]
            }
          }
        },
        {
          xPos = 24, yPos = 16, width = 24, height = 16
          widget = {
            title = "Kernel event drops per node (events/s)"
            xyChart = {
              chartOptions = { mode = "COLOR" }
              dataSets = [{
                plotType   = "LINE"
                targetAxis = "Y1"
                timeSeriesQuery = {
                  prometheusQuery = "sum by (node) (rate(nightjar_kernel_drops_total{namespace=\"${var.namespace}\"}[5m]))"
                }
              }]
            }
          }
        },
        {
          xPos = 0, yPos = 32, width = 24, height = 16
          widget = {
            title = "Alerts dropped (daemon outputs and plugin destinations, per s)"
            xyChart = {
              chartOptions = { mode = "COLOR" }
              dataSets = [
                {
                  plotType        = "LINE"
                  targetAxis      = "Y1"
                  timeSeriesQuery = { prometheusQuery = "sum by (output) (rate(nightjar_output_alerts_dropped_total{namespace=\"${var.namespace}\"}[5m]))" }
                },
                {
                  plotType        = "LINE"
                  targetAxis      = "Y1"
                  timeSeriesQuery = { prometheusQuery = "sum by (destination) (rate(nightjar_output_records_dropped_total{namespace=\"${var.namespace}\"}[5m]))" }
                },
              ]
            }
          }
        },
        {
          xPos = 24, yPos = 32, width = 24, height = 16
          widget = {
            title     = "Critical and above"
            logsPanel = { filter = local.queries.critical.filter, resourceNames = ["projects/${var.project_id}"] }
          }
        },
      ]
    }
  }
}

resource "google_monitoring_dashboard" "this" {
  count = var.dashboard ? 1 : 0

  project        = var.project_id
  dashboard_json = jsonencode(local.dashboard)
}
