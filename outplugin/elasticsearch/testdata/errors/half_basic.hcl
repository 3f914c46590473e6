# want: 4:14 Incomplete credentials
destination "elasticsearch" "x" {
  urls     = ["http://es:9200"]
  username = "u"
}
route "r" { to = [destination.elasticsearch.x] }
