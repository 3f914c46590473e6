# want: 4:13 Invalid header
destination "webhook" "w" {
  url     = "https://hooks.example.com/x"
  headers = { "Bad Header" = "x" }
}
route "r" { to = [destination.webhook.w] }
