# want: 4:23 Invalid regular expression
destination "probe" "a" {}
route "r" {
  match = regex(rule, "(unclosed")
  to    = [destination.probe.a]
}
