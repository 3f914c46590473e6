# want: 3:11 url path
destination "splunk_hec" "s" {
  url   = "https://splunk.example.com:8088/services/collector/raw"
  token = env("SPLUNK_HEC_TOKEN")
}
route "r" { to = [destination.splunk_hec.s] }
