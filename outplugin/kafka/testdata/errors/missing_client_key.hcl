# want: 5:22 no such file
destination "kafka" "x" {
  brokers          = ["localhost:9092"]
  topic            = "alerts"
  client_cert_file = "/nonexistent/client.pem"
  client_key_file  = "/nonexistent/client.key"
}
route "r" { to = [destination.kafka.x] }
