# want: 4:11 unknown date token
destination "elasticsearch" "x" {
  urls  = ["http://es:9200"]
  index = "nightjar-%Q"
}
route "r" { to = [destination.elasticsearch.x] }
