# want: 3:11 Invalid url
destination "splunk_hec" "s" {
  url   = "splunk.example.com:8088"
  token = env("SPLUNK_HEC_TOKEN")
}
route "r" { to = [destination.splunk_hec.s] }
