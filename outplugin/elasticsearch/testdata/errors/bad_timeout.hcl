# want: 4:13 Invalid timeout
destination "elasticsearch" "x" {
  urls    = ["http://es:9200"]
  timeout = "soon"
}
route "r" { to = [destination.elasticsearch.x] }
