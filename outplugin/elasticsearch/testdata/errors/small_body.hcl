# want: 4:20 Invalid max_body_bytes
destination "elasticsearch" "x" {
  urls           = ["http://es:9200"]
  max_body_bytes = 10
}
route "r" { to = [destination.elasticsearch.x] }
