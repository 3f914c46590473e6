# want: 2:33 Missing required argument
destination "elasticsearch" "x" {
  index = "a"
}
route "r" { to = [destination.elasticsearch.x] }
