// Package buildmetric is zlog_build_info, the metric of which build runs.
package buildmetric

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zlog/zlog/schema/buildinfo"
)

// Collector is zlog_build_info: always 1, with the version and Go version
// as labels, as Prometheus exporters report their build.
func Collector() prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "zlog_build_info",
		Help:        "A metric with a constant 1, labelled with the version and Go version of the build.",
		ConstLabels: prometheus.Labels{"version": buildinfo.Current(), "goversion": runtime.Version()},
	}, func() float64 { return 1 })
}
