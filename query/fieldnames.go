package query

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/zlog/zlog/query/ql"
	"github.com/zlog/zlog/schema"
)

// allFields is the getter's name for every field of an event at once
// (a schema.Fields): what field_names reads.
const allFields = "*"

// fieldsText is the name row conditions read when they read the text of
// every field, not their values: words with no field. Unlike allFields
// it needs nothing a block's head holds.
const fieldsText = "*text"

// fieldsToDecode is what a block's fields are decoded for to answer names
// (what a plan and a fold read): the fields they name, or nil for every
// field, when a name reads them all.
func fieldsToDecode(names ...[]string) []string {
	out := []string{}
	for _, n := range slices.Concat(names...) {
		switch n {
		case allFields, fieldsText:
			return nil
		case ql.Message, ql.Time, seqField:
		default:
			out = append(out, n)
		}
	}
	return out
}

// fieldNamesStep is "| field_names": each field name with the number of
// events that have it and its most frequent values.
type fieldNamesStep struct{}

// topValues is how many of a field's most frequent values are shown, and
// valuesKept how many distinct values are tallied per field before the
// rest are only counted (a field of ids must not hold them all).
const (
	topValues  = 3
	valuesKept = 1000
)

func (fieldNamesStep) apply(in []record, cols []string) ([]record, []string) {
	return foldAll(fieldNamesStep{}, in)
}
func (fieldNamesStep) fields() []string { return []string{allFields} }
func (fieldNamesStep) newFold() fold    { return &nameTally{names: map[string]*nameCount{}} }

type nameCount struct {
	events int64
	values map[string]int64
	more   bool // values beyond valuesKept were seen
}

type nameTally struct{ names map[string]*nameCount }

func (t *nameTally) add(get getter) {
	v, _ := get(allFields)
	fields, _ := v.(schema.Fields)
	for k, v := range fields {
		c := t.names[k]
		if c == nil {
			c = &nameCount{values: map[string]int64{}}
			t.names[k] = c
		}
		c.events++
		val := schema.FormatValue(v)
		if _, ok := c.values[val]; ok || len(c.values) < valuesKept {
			c.values[val]++
		} else {
			c.more = true
		}
	}
}

// held is the field names: their values are bounded by valuesKept each.
func (t *nameTally) held() int { return len(t.names) }

func (t *nameTally) merge(other fold) {
	for k, o := range other.(*nameTally).names {
		c := t.names[k]
		if c == nil {
			t.names[k] = o
			continue
		}
		c.events += o.events
		c.more = c.more || o.more
		for v, n := range o.values {
			c.values[v] += n
		}
	}
}

func (t *nameTally) records() ([]record, []string) {
	names := slices.Sorted(maps.Keys(t.names))
	out := make([]record, 0, len(names))
	for _, k := range names {
		c := t.names[k]
		vals := slices.SortedFunc(maps.Keys(c.values), func(a, b string) int {
			return cmp.Or(cmp.Compare(c.values[b], c.values[a]), cmp.Compare(a, b))
		})
		var top []string
		for _, v := range vals[:min(topValues, len(vals))] {
			top = append(top, fmt.Sprintf("%s (%d)", v, c.values[v]))
		}
		distinct := fmt.Sprint(len(c.values))
		if c.more {
			distinct = fmt.Sprintf("%d+", valuesKept)
		}
		out = append(out, record{"name": k, "hits": c.events, "values": distinct, "top": strings.Join(top, ", ")})
	}
	return out, []string{"name", "hits", "values", "top"}
}
