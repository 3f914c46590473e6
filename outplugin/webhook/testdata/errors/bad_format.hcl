# want: 4:12 Invalid format
destination "webhook" "w" {
  url    = "https://hooks.example.com/x"
  format = "xml"
}
route "r" { to = [destination.webhook.w] }
