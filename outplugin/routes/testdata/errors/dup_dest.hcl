# want: 3:1 Duplicate destination
destination "probe" "a" {}
destination "probe" "a" {}
route "r" { to = [destination.probe.a] }
