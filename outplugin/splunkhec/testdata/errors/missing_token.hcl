# want: 2:30 Missing required argument
destination "splunk_hec" "s" {
  url = "https://splunk.example.com:8088"
}
route "r" { to = [destination.splunk_hec.s] }
