# want: 4:3 set both cert_file and key_file
destination "syslog" "s" {
  address = "tls://127.0.0.1:6514"
  tls { cert_file = "/etc/ssl/client.pem" }
  format = "rfc5424"
}
route "r" { to = [destination.syslog.s] }
