# want: 4:11 Invalid match
destination "probe" "a" {}
route "r" {
  match = rule
  to    = [destination.probe.a]
}
