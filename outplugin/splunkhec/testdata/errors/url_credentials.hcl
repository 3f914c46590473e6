# want: 3:11 without credentials
destination "splunk_hec" "s" {
  url   = "https://admin:pw@splunk.example.com:8088"
  token = env("SPLUNK_HEC_TOKEN")
}
route "r" { to = [destination.splunk_hec.s] }
