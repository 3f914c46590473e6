# want: 5:19 Too many custom_fields
destination "syslog" "s" {
  address       = "tcp://127.0.0.1:514"
  format        = "cef"
  custom_fields = ["a", "b", "c", "d", "e", "f", "g"]
}
route "r" { to = [destination.syslog.s] }
