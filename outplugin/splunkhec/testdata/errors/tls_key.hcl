# want: 5:3 set both cert_file and key_file
destination "splunk_hec" "s" {
  url   = "https://splunk.example.com:8088"
  token = env("SPLUNK_HEC_TOKEN")
  tls { key_file = "/etc/ssl/k.pem" }
}
route "r" { to = [destination.splunk_hec.s] }
