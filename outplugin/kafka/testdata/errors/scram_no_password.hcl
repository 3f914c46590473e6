# want: 5:3 Incomplete SASL settings
destination "kafka" "x" {
  brokers = ["localhost:9092"]
  topic   = "alerts"
  sasl {
    mechanism = "SCRAM-SHA-512"
    username  = "u"
  }
}
route "r" { to = [destination.kafka.x] }
