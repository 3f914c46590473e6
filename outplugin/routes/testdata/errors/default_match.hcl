# want: 5:13 Invalid default route
destination "probe" "a" {}
route "r" {
  match   = true
  default = true
  to      = [destination.probe.a]
}
