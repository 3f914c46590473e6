# want: 4:11 must be lowercase
destination "elasticsearch" "x" {
  urls  = ["http://es:9200"]
  index = "Nightjar-%Y"
}
route "r" { to = [destination.elasticsearch.x] }
