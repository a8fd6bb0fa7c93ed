package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/zlog/zlog/collector/index"
	"github.com/zlog/zlog/query/api"
)

// The index writer and the query API count through small interfaces, so
// that logq, which reads the index and calls the API, links no metrics
// library; their Prometheus metrics are made and registered here.

func newIndexMetrics(reg prometheus.Registerer) *index.Metrics {
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
		reg.MustRegister(c)
		return c
	}
	commit := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "zlog_collector_commit_seconds", Help: "Time to write and commit one batch to one partition.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	})
	reg.MustRegister(commit)
	return &index.Metrics{
		Stored:        counter("zlog_collector_indexed_total", "Events committed to the index."),
		CommitSeconds: commit,
		Errors:        counter("zlog_collector_index_errors_total", "Failed index transactions (the batch is retried)."),
		Quarantined:   counter("zlog_collector_partitions_quarantined_total", "Damaged or foreign partition files moved aside as <name>.corrupt."),
		Lost: counter("zlog_collector_partitions_removed_total",
			"Commits that went into a partition file deleted while open (e.g. the data directory removed); their events were written again."),
		RetentionRemoved: counter("zlog_collector_retention_removed_partitions_total", "Index partitions (one UTC day each) removed by --retain or --max-index-bytes."),
		RetentionChecks:  counter("zlog_collector_retention_checks_total", "Times retention looked at the index."),
	}
}

func newAPIMetrics(reg prometheus.Registerer) api.Metrics {
	followers := prometheus.NewGauge(prometheus.GaugeOpts{Name: "zlog_collector_followers", Help: "Open follow and tail streams of the query API."})
	stalled := prometheus.NewCounter(prometheus.CounterOpts{Name: "zlog_collector_followers_dropped_total",
		Help: "Follow and tail clients disconnected because they accepted nothing for the stall timeout."})
	reg.MustRegister(followers, stalled)
	return api.Metrics{Followers: followers, Stalled: stalled}
}
