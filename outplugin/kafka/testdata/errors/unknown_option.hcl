# want: 5:3 Unsupported argument
destination "kafka" "x" {
  brokers = ["localhost:9092"]
  topic   = "alerts"
  acks    = 1
}
route "r" { to = [destination.kafka.x] }
