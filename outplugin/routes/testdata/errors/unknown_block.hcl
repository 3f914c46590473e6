# want: 2:1 Unsupported block type
output "x" {}
route "r" { to = [] }
