destination "probe" "a" {
  stream = "{{ hostname }}"
}
route "urgent" {
  match    = priority >= "Error" && (contains(tags, "shell") || regex(rule, "^Write"))
  to       = [destination.probe.a]
  continue = true
}
route "prod" {
  match = output_fields["k8s.ns.name"] == "prod"
  to    = [destination.probe.a]
}
route "default" {
  to = [destination.probe.a]
}
