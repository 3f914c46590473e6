# want: 1:1 No routes
destination "probe" "a" {}
