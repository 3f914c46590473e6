# want: 4:12 Invalid action
destination "elasticsearch" "x" {
  urls   = ["http://es:9200"]
  action = "upsert"
}
route "r" { to = [destination.elasticsearch.x] }
