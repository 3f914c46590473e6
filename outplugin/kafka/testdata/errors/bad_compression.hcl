# want: 5:17 Invalid compression
destination "kafka" "x" {
  brokers     = ["localhost:9092"]
  topic       = "alerts"
  compression = "brotli"
}
route "r" { to = [destination.kafka.x] }
