# want: 4:11 Invalid comparison
destination "probe" "a" {}
route "r" {
  match = "a" == "b"
  to    = [destination.probe.a]
}
