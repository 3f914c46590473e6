rule "Broken" {
  desc = "d"
  condition = "evt.type = execve"
  output = "o"
  priority = "INFO"
