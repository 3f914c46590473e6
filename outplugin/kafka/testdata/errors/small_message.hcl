# want: 5:23 Invalid max_message_bytes
destination "kafka" "x" {
  brokers           = ["localhost:9092"]
  topic             = "alerts"
  max_message_bytes = 100
}
route "r" { to = [destination.kafka.x] }
