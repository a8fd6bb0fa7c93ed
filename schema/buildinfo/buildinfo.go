// Package buildinfo says which build of zlog is running: every binary's
// --version and the zlog_build_info metric.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Version is set at link time by the Makefile:
// -ldflags "-X github.com/zlog/zlog/schema/buildinfo.Version=v1.2.3".
var Version string

// version is Version, else the module version Go recorded, else "devel".
func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// String is what --version prints: "logq v1.2.3 (go1.26.8, linux/amd64)".
func String(program string) string {
	return fmt.Sprintf("%s %s (%s, %s/%s)", program, version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// Metric is zlog_build_info: always 1, with the version and Go version as
// labels, as Prometheus exporters report their build.
func Metric() prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "zlog_build_info",
		Help:        "A metric with a constant 1, labelled with the version and Go version of the build.",
		ConstLabels: prometheus.Labels{"version": version(), "goversion": runtime.Version()},
	}, func() float64 { return 1 })
}
