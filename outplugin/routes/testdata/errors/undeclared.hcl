# want: 4:9 Reference to undeclared destination
destination "probe" "a" {}
route "r" {
  to = [destination.probe.b]
}
