# want: 5:13 Invalid linger
destination "kafka" "x" {
  brokers = ["localhost:9092"]
  topic   = "alerts"
  linger  = "later"
}
route "r" { to = [destination.kafka.x] }
