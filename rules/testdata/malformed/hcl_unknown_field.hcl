rule "Heredoc" {
  desc      = "d"
  condition = <<EOT
evt.type = execve
  and proc.nmae = bash
EOT
  output    = "o"
  priority  = "INFO"
}
