# want: 5:13 Invalid headers
destination "kafka" "x" {
  brokers = ["localhost:9092"]
  topic   = "alerts"
  headers = { rule = "{{ rule" }
}
route "r" { to = [destination.kafka.x] }
