# want: 5:16 Invalid template
destination "splunk_hec" "s" {
  url        = "https://splunk.example.com:8088"
  token      = env("SPLUNK_HEC_TOKEN")
  sourcetype = "{{ rule"
}
route "r" { to = [destination.splunk_hec.s] }
