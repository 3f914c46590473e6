# want: 5:13 Invalid channel
destination "splunk_hec" "s" {
  url     = "https://splunk.example.com:8088"
  token   = env("SPLUNK_HEC_TOKEN")
  channel = "not-a-guid"
}
route "r" { to = [destination.splunk_hec.s] }
