# want: 4:13 Invalid format
destination "syslog" "s" {
  address = "tcp://127.0.0.1:514"
  format  = "json"
}
route "r" { to = [destination.syslog.s] }
