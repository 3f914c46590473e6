# want: 3:9 Invalid url
destination "webhook" "w" {
  url = "hooks.example.com/x"
}
route "r" { to = [destination.webhook.w] }
