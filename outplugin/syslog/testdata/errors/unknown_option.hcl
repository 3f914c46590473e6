# want: 4:3 Unsupported argument
destination "syslog" "s" {
  address = "tcp://127.0.0.1:514"
  fromat  = "cef"
}
route "r" { to = [destination.syslog.s] }
