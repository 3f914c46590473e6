# want: 5:8 Missing required argument
destination "kafka" "x" {
  brokers = ["localhost:9092"]
  topic   = "alerts"
  sasl {
    username = "u"
  }
}
route "r" { to = [destination.kafka.x] }
