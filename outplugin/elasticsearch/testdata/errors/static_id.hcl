# want: 4:10 Invalid id
destination "elasticsearch" "x" {
  urls = ["http://es:9200"]
  id   = "same"
}
route "r" { to = [destination.elasticsearch.x] }
