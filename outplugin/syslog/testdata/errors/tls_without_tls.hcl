# want: 3:13 TLS settings without tls://
destination "syslog" "s" {
  address = "tcp://127.0.0.1:514"
  tls { ca_file = "/etc/ssl/ca.pem" }
}
route "r" { to = [destination.syslog.s] }
