# want: 4:3 set both cert_file and key_file
destination "webhook" "w" {
  url = "https://hooks.example.com/x"
  tls { cert_file = "/etc/ssl/c.pem" }
}
route "r" { to = [destination.webhook.w] }
