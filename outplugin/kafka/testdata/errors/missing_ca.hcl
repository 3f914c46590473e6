# want: 5:13 no such file
destination "kafka" "x" {
  brokers = ["localhost:9092"]
  topic   = "alerts"
  ca_file = "/nonexistent/ca.pem"
}
route "r" { to = [destination.kafka.x] }
