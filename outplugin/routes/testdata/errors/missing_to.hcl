# want: 3:11 Missing required argument
destination "probe" "a" {}
route "r" {
  match = true
}
