# want: 6:14 Conflicting authentication
destination "elasticsearch" "x" {
  urls     = ["http://es:9200"]
  username = "u"
  password = "p"
  api_key  = "k"
}
route "r" { to = [destination.elasticsearch.x] }
