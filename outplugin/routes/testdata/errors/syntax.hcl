# want: 5:1 Invalid expression
destination "probe" "a" {}
route "r" {
  to = [
}
