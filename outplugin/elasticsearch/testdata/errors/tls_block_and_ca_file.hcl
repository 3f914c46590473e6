# want: 5:3 use either the tls block or the ca_file
destination "elasticsearch" "x" {
  urls    = ["https://es:9200"]
  ca_file = "/etc/nightjar/es-ca.pem"
  tls {
    ca_file = "/etc/nightjar/es-ca.pem"
  }
}
route "r" { to = [destination.elasticsearch.x] }
