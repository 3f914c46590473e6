# want: 5:13 Invalid template
destination "kafka" "x" {
  brokers = ["localhost:9092"]
  topic   = "alerts"
  key     = "}}"
}
route "r" { to = [destination.kafka.x] }
