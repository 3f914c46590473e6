# want: 4:12 Invalid method
destination "webhook" "w" {
  url    = "https://hooks.example.com/x"
  method = "GET"
}
route "r" { to = [destination.webhook.w] }
