# want: 5:13 Invalid timeout
destination "kafka" "x" {
  brokers = ["localhost:9092"]
  topic   = "alerts"
  timeout = "-1s"
}
route "r" { to = [destination.kafka.x] }
