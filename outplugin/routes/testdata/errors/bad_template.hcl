# want: 3:12 Invalid template
destination "probe" "a" {
  stream = "{{ hostname"
}
route "r" { to = [destination.probe.a] }
