// Package instance is one configured nightjar output in Fluent Bit: it reads
// the instance's properties, sets up logging, loads routes.hcl with every
// destination type registered, and runs the router and the optional
// Prometheus listener. The cgo shell calls nothing else.
package instance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nightjar-sec/nightjar/outplugin/cloudlogging"
	"github.com/nightjar-sec/nightjar/outplugin/cloudwatch"
	"github.com/nightjar-sec/nightjar/outplugin/destination"
	"github.com/nightjar-sec/nightjar/outplugin/elasticsearch"
	"github.com/nightjar-sec/nightjar/outplugin/kafka"
	"github.com/nightjar-sec/nightjar/outplugin/router"
	"github.com/nightjar-sec/nightjar/outplugin/routes"
	"github.com/nightjar-sec/nightjar/outplugin/splunkhec"
	"github.com/nightjar-sec/nightjar/outplugin/syslog"
	"github.com/nightjar-sec/nightjar/outplugin/webhook"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Properties are the instance's Fluent Bit properties, looked up by name.
// Absent properties read as "".
type Properties func(key string) string

// Registry returns a registry holding every destination type.
func Registry() *destination.Registry {
	reg := destination.NewRegistry()
	cloudwatch.Register(reg)
	cloudlogging.Register(reg)
	elasticsearch.Register(reg)
	kafka.Register(reg)
	splunkhec.Register(reg)
	syslog.Register(reg)
	webhook.Register(reg)
	return reg
}

// Instance is one running output instance.
type Instance struct {
	Router  *router.Router
	log     *slog.Logger
	metrics *http.Server
}

// Open starts an instance. id distinguishes instances in the log.
func Open(id int, props Properties) (*Instance, error) {
	level := slog.LevelInfo
	switch strings.ToLower(props("log_level")) {
	case "", "info":
	case "debug", "trace":
		level = slog.LevelDebug
	case "warn", "warning":
		level = slog.LevelWarn
	case "error", "off":
		level = slog.LevelError
	default:
		return nil, fmt.Errorf("log_level %q: want error, warn, info, debug or trace", props("log_level"))
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("output", "nightjar", "instance", id)

	path := props("config")
	if path == "" {
		return nil, errors.New("property config (path to routes.hcl) is required")
	}
	opts := router.Options{Logger: log}
	if v := props("log_interval"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, fmt.Errorf("log_interval %q: %w", v, err)
		}
		opts.LogInterval = d
	}
	if v := props("flush_timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("flush_timeout %q: want a positive duration", v)
		}
		opts.FlushTimeout = d
	}
	if v := props("retry_state_ttl"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("retry_state_ttl %q: want a positive duration", v)
		}
		opts.TrackerTTL = d
	}
	if v := props("retry_state_max"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("retry_state_max %q: want a positive number of chunks", v)
		}
		opts.TrackerMax = n
	}
	opts.StateDir = props("state_dir")
	cfg, err := routes.Load(path, routes.Options{Registry: Registry(), Logger: log})
	if err != nil {
		return nil, err
	}
	r, err := router.Open(cfg, opts)
	if err != nil {
		return nil, err
	}
	inst := &Instance{Router: r, log: log}
	if addr := props("metrics_listen"); addr != "" {
		if err := inst.serveMetrics(addr); err != nil {
			inst.Router.Close()
			return nil, err
		}
	}
	log.Info("nightjar output started", "config", path, "destinations", len(cfg.Destinations), "routes", len(cfg.Routes), "state_dir", opts.StateDir)
	return inst, nil
}

func (i *Instance) serveMetrics(addr string) error {
	reg := prometheus.NewRegistry()
	if err := reg.Register(i.Router.Collector()); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics_listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	i.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := i.metrics.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			i.log.Error("metrics listener stopped", "error", err)
		}
	}()
	i.log.Info("serving Prometheus metrics", "address", ln.Addr().String())
	return nil
}

// Flush routes one chunk.
func (i *Instance) Flush(tag string, chunk []byte) router.Status {
	return i.Router.Flush(context.Background(), tag, chunk)
}

// Close stops the instance.
func (i *Instance) Close() error {
	if i.metrics != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		i.metrics.Shutdown(ctx)
		cancel()
	}
	return i.Router.Close()
}
