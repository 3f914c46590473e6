# want: 3:19 Invalid destination reference
destination "probe" "a" {}
route "r" { to = [probe.a] }
