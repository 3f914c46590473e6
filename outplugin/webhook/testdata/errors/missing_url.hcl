# want: 2:27 Missing required argument
destination "webhook" "w" {
  format = "ndjson"
}
route "r" { to = [destination.webhook.w] }
