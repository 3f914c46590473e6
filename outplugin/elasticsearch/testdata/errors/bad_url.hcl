# want: 3:10 Invalid urls
destination "elasticsearch" "x" {
  urls = ["ftp://es:9200"]
}
route "r" { to = [destination.elasticsearch.x] }
