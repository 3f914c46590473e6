# want: 4:3 Invalid aws service
destination "elasticsearch" "x" {
  urls = ["https://search.example.com"]
  aws {
    region  = "us-east-1"
    service = "s3"
  }
}
route "r" { to = [destination.elasticsearch.x] }
