# want: 3:13 Missing brokers
destination "kafka" "x" {
  brokers = []
  topic   = "alerts"
}
route "r" { to = [destination.kafka.x] }
