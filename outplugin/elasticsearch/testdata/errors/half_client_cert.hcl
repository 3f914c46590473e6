# want: 4:22 set both client_cert_file and client_key_file
destination "elasticsearch" "x" {
  urls             = ["https://es:9200"]
  client_cert_file = "/etc/nightjar/client.pem"
}
route "r" { to = [destination.elasticsearch.x] }
