# want: 4:31 WEBHOOK_TYPO is not set
destination "webhook" "w" {
  url     = "https://hooks.example.com/x"
  headers = { Authorization = env("WEBHOOK_TYPO") }
}
route "r" { to = [destination.webhook.w] }
