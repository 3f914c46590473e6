# want: 4:11 Invalid index
destination "elasticsearch" "x" {
  urls  = ["http://es:9200"]
  index = "nightjar-{{ rule"
}
route "r" { to = [destination.elasticsearch.x] }
