# want: 4:23 Invalid priority
destination "probe" "a" {}
route "r" {
  match = priority >= "Severe"
  to    = [destination.probe.a]
}
