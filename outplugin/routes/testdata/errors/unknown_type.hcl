# want: 2:13 Unknown destination type
destination "splunk" "a" {}
route "r" { to = [destination.splunk.a] }
