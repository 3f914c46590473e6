package imageref

import "testing"

func TestSplit(t *testing.T) {
	for _, tt := range []struct{ ref, repo, tag string }{
		{"nginx", "nginx", "latest"},
		{"nginx:1.25", "nginx", "1.25"},
		{"docker.io/library/nginx:1.25.3-alpine", "docker.io/library/nginx", "1.25.3-alpine"},
		{"localhost:5000/app", "localhost:5000/app", "latest"},
		{"registry.local:5000/team/app:v2", "registry.local:5000/team/app", "v2"},
		{"123456789012.dkr.ecr.us-east-1.amazonaws.com/web:2026.11", "123456789012.dkr.ecr.us-east-1.amazonaws.com/web", "2026.11"},
		{"app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "app", ""},
		{"registry.local:5000/app:v2@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "registry.local:5000/app", "v2"},
		{"registry.local:5000/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "registry.local:5000/app", ""},
		{"[::1]:5000/app:v1", "[::1]:5000/app", "v1"},
		{"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "", ""},
		{"", "", ""},
		{"  app:v1 ", "app", "v1"},
	} {
		repo, tag := Split(tt.ref)
		if repo != tt.repo || tag != tt.tag {
			t.Errorf("Split(%q) = %q, %q; want %q, %q", tt.ref, repo, tag, tt.repo, tt.tag)
		}
	}
}

func FuzzSplit(f *testing.F) {
	f.Add("registry.local:5000/team/app:v2@sha256:00")
	f.Fuzz(func(t *testing.T, ref string) {
		repo, tag := Split(ref)
		if repo != "" && len(repo)+len(tag) > len(ref)+len("latest") {
			t.Fatalf("Split(%q) = %q, %q", ref, repo, tag)
		}
	})
}
