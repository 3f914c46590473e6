# want: 4:13 set by the HTTP client
destination "webhook" "w" {
  url     = "https://hooks.example.com/x"
  headers = { Content-Length = "10" }
}
route "r" { to = [destination.webhook.w] }
