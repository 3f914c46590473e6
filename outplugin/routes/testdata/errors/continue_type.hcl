# want: 5:14 Invalid continue
destination "probe" "a" {}
route "r" {
  to       = [destination.probe.a]
  continue = "yes"
}
