# want: 3:13 Invalid address
destination "syslog" "s" {
  address = "http://127.0.0.1:514"
}
route "r" { to = [destination.syslog.s] }
