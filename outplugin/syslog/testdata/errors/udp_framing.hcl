# want: 4:13 Invalid framing
destination "syslog" "s" {
  address = "udp://127.0.0.1:514"
  framing = "lf"
}
route "r" { to = [destination.syslog.s] }
