# want: 4:13 Invalid topic
destination "kafka" "x" {
  brokers = ["localhost:9092"]
  topic   = "alerts/prod"
}
route "r" { to = [destination.kafka.x] }
