# want: 5:20 Invalid leef_delimiter
destination "syslog" "s" {
  address        = "tcp://127.0.0.1:514"
  format         = "leef"
  leef_delimiter = "="
}
route "r" { to = [destination.syslog.s] }
