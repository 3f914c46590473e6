# want: 4:13 no such file
destination "elasticsearch" "x" {
  urls    = ["https://es:9200"]
  ca_file = "/nonexistent/ca.pem"
}
route "r" { to = [destination.elasticsearch.x] }
