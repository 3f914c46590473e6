# want: 4:13 Invalid template
destination "kafka" "x" {
  brokers = ["localhost:9092"]
  topic   = "alerts-{{ rule"
}
route "r" { to = [destination.kafka.x] }
