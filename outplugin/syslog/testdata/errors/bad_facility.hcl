# want: 4:14 Invalid facility
destination "syslog" "s" {
  address  = "tcp://127.0.0.1:514"
  facility = "local9"
}
route "r" { to = [destination.syslog.s] }
