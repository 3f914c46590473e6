# want: 5:13 Unsuitable value type
destination "splunk_hec" "s" {
  url    = "https://splunk.example.com:8088"
  token  = env("SPLUNK_HEC_TOKEN")
  fields = "proc.name"
}
route "r" { to = [destination.splunk_hec.s] }
