# want: 2:25 Missing topic
destination "kafka" "x" {
  brokers = ["localhost:9092"]
}
route "r" { to = [destination.kafka.x] }
