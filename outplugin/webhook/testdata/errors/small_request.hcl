# want: 4:23 at least 1024
destination "webhook" "w" {
  url               = "https://hooks.example.com/x"
  max_request_bytes = 10
}
route "r" { to = [destination.webhook.w] }
