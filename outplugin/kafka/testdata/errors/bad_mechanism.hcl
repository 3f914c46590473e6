# want: 5:3 Invalid SASL mechanism
destination "kafka" "x" {
  brokers = ["localhost:9092"]
  topic   = "alerts"
  sasl {
    mechanism = "GSSAPI"
  }
}
route "r" { to = [destination.kafka.x] }
