# want: 4:11 SPLUNK_TOKEN_TYPO is not set
destination "splunk_hec" "s" {
  url   = "https://splunk.example.com:8088"
  token = env("SPLUNK_TOKEN_TYPO")
}
route "r" { to = [destination.splunk_hec.s] }
