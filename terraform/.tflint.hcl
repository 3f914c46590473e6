# tflint for every module and example: the bundled terraform ruleset with
# its recommended preset.
config {
  call_module_type = "local"
}

plugin "terraform" {
  enabled = true
  preset  = "recommended"
}
