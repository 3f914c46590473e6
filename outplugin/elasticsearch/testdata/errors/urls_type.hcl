# want: 3:11 list of string required
destination "elasticsearch" "x" {
  urls = "http://es:9200"
}
route "r" { to = [destination.elasticsearch.x] }
