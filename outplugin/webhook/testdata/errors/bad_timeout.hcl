# want: 4:13 Invalid timeout
destination "webhook" "w" {
  url     = "https://hooks.example.com/x"
  timeout = "10"
}
route "r" { to = [destination.webhook.w] }
