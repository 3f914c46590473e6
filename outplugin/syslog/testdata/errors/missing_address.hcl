# want: 2:26 Missing required argument
destination "syslog" "s" {
  format = "cef"
}
route "r" { to = [destination.syslog.s] }
