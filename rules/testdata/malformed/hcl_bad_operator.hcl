macro "m" {
  condition = "evt.type = execve and proc.pid startswith 1"
}

rule "R" {
  desc      = "d"
  condition = "m"
  output    = "o"
  priority  = "INFO"
}
