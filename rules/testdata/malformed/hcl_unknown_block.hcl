rule "R" {
  desc      = "d"
  condition = "evt.type = execve"
  output    = "o"
  priority  = "INFO"
}

filter "x" {
}
