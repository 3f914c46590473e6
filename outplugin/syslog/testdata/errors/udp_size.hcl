# want: 4:23 Invalid max_message_bytes
destination "syslog" "s" {
  address           = "udp://127.0.0.1:514"
  max_message_bytes = 70000
}
route "r" { to = [destination.syslog.s] }
