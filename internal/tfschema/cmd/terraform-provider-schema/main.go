// Command terraform-provider-schema is a schema-only Terraform provider
// (see package tfschema). Install it under the name Terraform expects,
// terraform-provider-NAME, in a directory named by a CLI configuration's
// dev_overrides; it serves the schema NAME.json or NAME.json.gz from the
// directory in TFSCHEMA_DIR.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6/tf6server"
	"github.com/nightjar-sec/nightjar/internal/tfschema"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "terraform-provider-schema:", err)
		os.Exit(1)
	}
}

func run() error {
	exe := filepath.Base(os.Args[0])
	name, ok := strings.CutPrefix(exe, "terraform-provider-")
	if !ok || name == "" || name == "schema" {
		return fmt.Errorf("run as terraform-provider-NAME (got %s)", exe)
	}
	name, _, _ = strings.Cut(name, "_") // terraform-provider-aws_v6.57.1
	dir := os.Getenv("TFSCHEMA_DIR")
	if dir == "" {
		return fmt.Errorf("TFSCHEMA_DIR is not set: it names the directory of the provider schema files")
	}
	path, err := tfschema.Find(dir, name)
	if err != nil {
		return err
	}
	s, err := tfschema.Load(path)
	if err != nil {
		return err
	}
	return tf6server.Serve("registry.terraform.io/hashicorp/"+name, func() tfprotov6.ProviderServer {
		return tfschema.NewServer(s)
	})
}
