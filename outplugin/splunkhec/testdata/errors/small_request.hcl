# want: 5:23 at least 4096
destination "splunk_hec" "s" {
  url               = "https://splunk.example.com:8088"
  token             = env("SPLUNK_HEC_TOKEN")
  max_request_bytes = 100
}
route "r" { to = [destination.splunk_hec.s] }
