# want: 3:13 port must be 1-65535
destination "syslog" "s" {
  address = "tcp://127.0.0.1:70000"
}
route "r" { to = [destination.syslog.s] }
