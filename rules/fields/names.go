package fields

import "net/netip"

// nameDefs are the fd.*ip.name fields. Falco resolves the host names that
// conditions compare them with and matches the event's address against the
// resolved addresses; in output they give the compared name that the
// address resolved to. Without a resolver they are unavailable.
func (r *Registry) nameDefs() []*Def {
	mk := func(name, desc string, e end) *Def {
		names := r.names
		return &Def{Name: name, Type: String, Desc: desc, Unavailable: names == nil, make: func(arg) (*Extractor, error) {
			return &Extractor{
				HostIP: func(c *Ctx) (netip.Addr, bool) { return endIP(c, e) },
				Str: func(c *Ctx, _ int) (string, bool) {
					ip, ok := endIP(c, e)
					if !ok || names == nil {
						return "", false
					}
					return names.Lookup(ip)
				},
			}, nil
		}}
	}
	return []*Def{
		mk("fd.cip.name", "host name of the client address, among the names the rules compare it with", client),
		mk("fd.sip.name", "host name of the server address, among the names the rules compare it with", server),
		mk("fd.lip.name", "host name of the local address, among the names the rules compare it with", local),
		mk("fd.rip.name", "host name of the remote address, among the names the rules compare it with", remote),
	}
}
