# want: 3:3 Unsupported argument
destination "probe" "a" {
  region = "x"
}
route "r" { to = [destination.probe.a] }
