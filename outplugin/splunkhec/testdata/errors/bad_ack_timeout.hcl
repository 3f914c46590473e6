# want: 6:17 ack_timeout
destination "splunk_hec" "s" {
  url         = "https://splunk.example.com:8088"
  token       = env("SPLUNK_HEC_TOKEN")
  ack         = true
  ack_timeout = "soon"
}
route "r" { to = [destination.splunk_hec.s] }
