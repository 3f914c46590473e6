# want: 4:11 Unknown function
destination "probe" "a" {}
route "r" {
  match = lower(rule)
  to    = [destination.probe.a]
}
