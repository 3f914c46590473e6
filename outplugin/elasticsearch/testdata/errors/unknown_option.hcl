# want: 4:3 Unsupported argument
destination "elasticsearch" "x" {
  urls  = ["http://es:9200"]
  hosts = ["es"]
}
route "r" { to = [destination.elasticsearch.x] }
