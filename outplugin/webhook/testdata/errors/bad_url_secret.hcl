# want: 3:9 Invalid url
destination "webhook" "w" {
  url = "ftp://user:hunter2@hooks.example.com/x"
}
route "r" { to = [destination.webhook.w] }
