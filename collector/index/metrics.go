package index

// Metrics are what the writer counts. The collector makes them (as
// Prometheus collectors, in its own package) so that readers of the index,
// logq above all, do not link a metrics library: importing client_golang
// alone made a program start in 18 ms instead of 7 (280 more page faults),
// measured on the bench's machine.
type Metrics struct {
	Stored           Counter  // events committed
	CommitSeconds    Observer // time to write and commit a batch to a partition
	Errors           Counter  // failed transactions (retried)
	Quarantined      Counter  // damaged or foreign partition files moved aside
	Lost             Counter  // commits into a partition file deleted while open
	RetentionRemoved Counter  // partitions removed by retention
	RetentionChecks  Counter  // times retention looked
}

// Counter is the part of a counter the writer uses.
type Counter interface {
	Inc()
	Add(float64)
}

// Observer is the part of a histogram the writer uses.
type Observer interface{ Observe(float64) }

type none struct{}

func (none) Inc()            {}
func (none) Add(float64)     {}
func (none) Observe(float64) {}

// orNone is m with every missing metric counting nothing.
func (m *Metrics) orNone() Metrics {
	var out Metrics
	if m != nil {
		out = *m
	}
	for _, c := range []*Counter{&out.Stored, &out.Errors, &out.Quarantined, &out.Lost, &out.RetentionRemoved, &out.RetentionChecks} {
		if *c == nil {
			*c = none{}
		}
	}
	if out.CommitSeconds == nil {
		out.CommitSeconds = none{}
	}
	return out
}
