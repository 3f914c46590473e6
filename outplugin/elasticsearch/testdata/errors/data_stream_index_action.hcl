# want: 5:17 Data streams accept only the create action
destination "elasticsearch" "x" {
  urls        = ["http://es:9200"]
  data_stream = true
  action      = "index"
}
route "r" { to = [destination.elasticsearch.x] }
