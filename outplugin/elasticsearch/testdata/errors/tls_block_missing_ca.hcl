# want: 4:3 no such file
destination "elasticsearch" "x" {
  urls = ["https://es:9200"]
  tls {
    ca_file = "/nonexistent/ca.pem"
  }
}
route "r" { to = [destination.elasticsearch.x] }
