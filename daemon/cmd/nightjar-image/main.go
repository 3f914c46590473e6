// Command nightjar-image writes the daemon's container image as an OCI
// image archive, without a container engine:
//
//	CGO_ENABLED=0 go build -o build/nightjar ./daemon/cmd/nightjar
//	go run ./daemon/cmd/nightjar-image -binary build/nightjar -ref nightjar:dev -o build/nightjar-image.tar
//	ctr image import build/nightjar-image.tar
//
// With -rootfs DIR it writes the image's file system instead, which
// daemon/Dockerfile copies into a scratch image.
package main

import (
	"flag"
	"fmt"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/nightjar-sec/nightjar/daemon/image"
)

func main() {
	bin := flag.String("binary", "build/nightjar", "static nightjar binary to put in the image")
	ref := flag.String("ref", "nightjar:dev", "image reference recorded in the archive")
	out := flag.String("o", "build/nightjar-image.tar", "output archive")
	version := flag.String("version", "dev", "version label")
	cfgFile := flag.String("config", image.ConfigFile, "configuration the image carries at "+image.ConfigPath)
	rootfs := flag.String("rootfs", "", "write the image's file system to this directory instead of an archive (daemon/Dockerfile uses it)")
	flag.Parse()
	opts := image.Options{Binary: *bin, Ref: *ref, Version: *version}
	cfg, err := os.ReadFile(*cfgFile)
	opts.Config = string(cfg)
	switch {
	case err != nil:
	case *rootfs != "":
		err = image.WriteRootfs(*rootfs, opts)
	default:
		var img v1.Image
		if img, err = image.Build(opts); err == nil {
			err = image.WriteArchive(*out, *ref, img)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "nightjar-image:", err)
		os.Exit(1)
	}
}
