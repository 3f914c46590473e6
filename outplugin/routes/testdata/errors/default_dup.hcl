# want: 7:1 Duplicate default route
destination "probe" "a" {}
route "d1" {
  default = true
  to = [destination.probe.a]
}
route "d2" {
  default = true
  to = [destination.probe.a]
}
