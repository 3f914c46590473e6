# want: 4:14 Invalid template
destination "syslog" "s" {
  address  = "tcp://127.0.0.1:514"
  app_name = "{{ rule"
}
route "r" { to = [destination.syslog.s] }
