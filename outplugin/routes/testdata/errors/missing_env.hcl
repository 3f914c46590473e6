# want: 3:11 environment variable NOPE is not set
destination "probe" "a" {
  token = env("NOPE")
}
route "r" { to = [destination.probe.a] }
