# want: 4:11 Invalid sd_id
destination "syslog" "s" {
  address = "tcp://127.0.0.1:514"
  sd_id = "nightjar"
}
route "r" { to = [destination.syslog.s] }
