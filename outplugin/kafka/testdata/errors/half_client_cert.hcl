# want: 5:22 set both client_cert_file and client_key_file
destination "kafka" "x" {
  brokers          = ["localhost:9092"]
  topic            = "alerts"
  client_cert_file = "/etc/nightjar/client.pem"
}
route "r" { to = [destination.kafka.x] }
