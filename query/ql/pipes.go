package ql

import (
	"strconv"
	"strings"
)

// Pipe is a step after the filter: "| stats …", "| sort …".
type Pipe interface {
	String() string
	Position() int
}

type (
	// Stats computes Funcs over the events of each group of By (all the
	// events when By is empty).
	Stats struct {
		Pos   int
		By    []By
		Funcs []StatsFunc
	}
	// By is a grouping key: a field, or _time cut into Bucket-long
	// buckets ("1m") aligned to round times.
	By struct {
		Pos    int
		Field  string
		Bucket string
	}
	// StatsFunc is count(), count(f), count_uniq(f), sum(f), avg(f),
	// min(f), max(f), median(f) or quantile(phi, f), shown as As.
	StatsFunc struct {
		Pos   int
		Name  string
		Field string // "" for count()
		Phi   string // quantile's, as written
		As    string
	}
	// Top is the N most frequent values of By, with their counts.
	Top struct {
		Pos int
		N   int
		By  []string
	}
	// Sort orders the results by Keys.
	Sort struct {
		Pos  int
		Keys []SortKey
	}
	SortKey struct {
		Field string
		Desc  bool
	}
	// Fields keeps only Names of each result.
	Fields struct {
		Pos   int
		Names []string
	}
	// Uniq is the distinct combinations of By.
	Uniq struct {
		Pos int
		By  []string
	}
	// Limit keeps the first N results.
	Limit struct {
		Pos int
		N   int
	}
	// FieldNames is the events' field names, each with how many events
	// have it and its most frequent values.
	FieldNames struct{ Pos int }
)

func (p *Stats) Position() int  { return p.Pos }
func (p *Top) Position() int    { return p.Pos }
func (p *Sort) Position() int   { return p.Pos }
func (p *Fields) Position() int { return p.Pos }
func (p *Uniq) Position() int   { return p.Pos }
func (p *Limit) Position() int  { return p.Pos }

func (p *FieldNames) Position() int  { return p.Pos }
func (p *FieldNames) String() string { return "field_names" }

func (p *Stats) String() string {
	s := "stats"
	if len(p.By) > 0 {
		keys := make([]string, len(p.By))
		for i, b := range p.By {
			keys[i] = b.String()
		}
		s += " by (" + strings.Join(keys, ", ") + ")"
	}
	funcs := make([]string, len(p.Funcs))
	for i, f := range p.Funcs {
		funcs[i] = f.Call()
		if f.As != f.Call() {
			funcs[i] += " as " + quoteIfNeeded(f.As)
		}
	}
	return s + " " + strings.Join(funcs, ", ")
}

func (b By) String() string {
	if b.Bucket != "" {
		return quoteIfNeeded(b.Field) + ":" + b.Bucket
	}
	return quoteIfNeeded(b.Field)
}

// Call is the function as written in canonical form: its default name.
func (f StatsFunc) Call() string {
	switch {
	case f.Name == "quantile":
		return "quantile(" + f.Phi + ", " + quoteIfNeeded(f.Field) + ")"
	case f.Field == "":
		return f.Name + "()"
	}
	return f.Name + "(" + quoteIfNeeded(f.Field) + ")"
}

func (p *Top) String() string {
	return "top " + strconv.Itoa(p.N) + " by (" + names(p.By) + ")"
}

func (p *Sort) String() string {
	keys := make([]string, len(p.Keys))
	for i, k := range p.Keys {
		keys[i] = quoteIfNeeded(k.Field)
		if k.Desc {
			keys[i] += " desc"
		}
	}
	return "sort by (" + strings.Join(keys, ", ") + ")"
}

func (p *Fields) String() string { return "fields " + names(p.Names) }
func (p *Uniq) String() string   { return "uniq by (" + names(p.By) + ")" }
func (p *Limit) String() string  { return "limit " + strconv.Itoa(p.N) }

func names(fields []string) string {
	s := make([]string, len(fields))
	for i, f := range fields {
		s[i] = quoteIfNeeded(f)
	}
	return strings.Join(s, ", ")
}
