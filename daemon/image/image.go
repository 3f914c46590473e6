// Package image builds the daemon's container image without a container
// engine: one layer with the static nightjar binary, its configuration
// (ConfigFile) and a minimal /etc, written as an OCI image archive that
// `ctr image import`, `podman load` and `docker load` read. The same
// contents are what daemon/Dockerfile produces with a Docker engine.
package image

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Paths inside the image.
const (
	BinaryPath = "/usr/bin/nightjar"
	ConfigPath = "/etc/nightjar/nightjar.hcl"
	// SocketDir is where the default configuration expects Fluent Bit's
	// forward socket: the volume shared with the log router.
	SocketDir = "/var/run/nightjar"
)

// ConfigFile is the repository file the image carries as its
// configuration: the daemon as an ECS daemon task. The GKE DaemonSet mounts
// its own (a ConfigMap) over it.
const ConfigFile = "ecs/nightjar.hcl"

// passwd and group name the accounts every host has; the host's own user
// names come from the host (see the daemon's README).
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
	group  = "root:x:0:\nnogroup:x:65534:\n"
)

// Options describe the image to build.
type Options struct {
	// Binary is the nightjar executable to put in the image; it must be
	// statically linked (CGO_ENABLED=0), as the image has no C library.
	Binary string
	// Config is the text of the image's /etc/nightjar/nightjar.hcl
	// (ConfigFile's contents).
	Config string
	// Ref names the image in the archive ("ghcr.io/org/nightjar:1.2").
	Ref string
	// Version is recorded in the image's labels.
	Version string
}

// Build returns the image.
func Build(opts Options) (v1.Image, error) {
	layerTar, err := layer(opts)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("daemon image: layer: %w", err)
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		return nil, fmt.Errorf("daemon image: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("daemon image: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cf.Config = v1.Config{
		Entrypoint: []string{BinaryPath},
		Cmd:        []string{"run", "--config", ConfigPath},
		Env:        []string{"PATH=/usr/bin"},
		WorkingDir: "/",
		Labels: map[string]string{
			"org.opencontainers.image.title":       "nightjar",
			"org.opencontainers.image.description": "nightjar runtime security daemon (eBPF)",
			"org.opencontainers.image.version":     opts.Version,
		},
		ExposedPorts: map[string]struct{}{"9376/tcp": {}},
		StopSignal:   "SIGTERM",
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("daemon image: config: %w", err)
	}
	return img, nil
}

// WriteArchive writes img as an OCI image archive (a tar of an OCI image
// layout) to path, naming it ref in the index annotations that image
// tools read.
func WriteArchive(path, ref string, img v1.Image) error {
	dir, err := os.MkdirTemp("", "nightjar-image")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("image layout: %w", err)
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{
		// containerd names imported images by the first, OCI tools by
		// the second.
		"io.containerd.image.name":          ref,
		"org.opencontainers.image.ref.name": ref,
	})); err != nil {
		return fmt.Errorf("image layout: %w", err)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := tarDir(f, dir); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// WriteRootfs writes the image's file system, the contents of its one
// layer, below dir: what daemon/Dockerfile copies into a scratch image, so
// that an engine-built image and Build's archive hold the same files.
func WriteRootfs(dir string, opts Options) error {
	layerTar, err := layer(opts)
	if err != nil {
		return err
	}
	tr := tar.NewReader(bytes.NewReader(layerTar))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		p := filepath.Join(dir, filepath.FromSlash(hdr.Name))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
			if err := os.Chmod(p, fs.FileMode(hdr.Mode)&fs.ModePerm|sticky(hdr.Mode)); err != nil {
				return err
			}
		case tar.TypeReg:
			data, err := io.ReadAll(tr)
			if err != nil {
				return err
			}
			if err := os.WriteFile(p, data, fs.FileMode(hdr.Mode)&fs.ModePerm); err != nil {
				return err
			}
		}
	}
}

func sticky(mode int64) fs.FileMode {
	if mode&0o1000 != 0 {
		return fs.ModeSticky
	}
	return 0
}

// tarDir writes the files below dir to w as a tar with relative names.
func tarDir(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	return errors.Join(err, tw.Close())
}

// layer returns the tar of the image's only layer.
func layer(opts Options) ([]byte, error) {
	if opts.Config == "" {
		return nil, errors.New("daemon image: no configuration")
	}
	bin, err := os.ReadFile(opts.Binary)
	if err != nil {
		return nil, fmt.Errorf("daemon image: %w", err)
	}
	b, err := rootfs(bin, opts.Config)
	if err != nil {
		return nil, fmt.Errorf("daemon image: layer: %w", err)
	}
	return b, nil
}

// rootfs is the image's only layer.
func rootfs(bin []byte, cfg string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(0, 0)
	for _, d := range []struct {
		name string
		mode int64
	}{
		{"usr/", 0o755}, {"usr/bin/", 0o755}, {"etc/", 0o755}, {"etc/nightjar/", 0o755},
		{"var/", 0o755}, {"var/run/", 0o755}, {"var/run/nightjar/", 0o750},
		{"var/lib/", 0o755}, {"var/lib/nightjar/", 0o700}, {"tmp/", 0o1777},
		{"proc/", 0o555}, {"sys/", 0o555}, {"dev/", 0o755}, {"run/", 0o755},
	} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d.name, Mode: d.mode, ModTime: mtime}); err != nil {
			return nil, err
		}
	}
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{
		{BinaryPath[1:], 0o755, bin},
		{ConfigPath[1:], 0o644, []byte(cfg)},
		{"etc/passwd", 0o644, []byte(passwd)},
		{"etc/group", 0o644, []byte(group)},
	} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: mtime}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
