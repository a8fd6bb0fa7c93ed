package query

import (
	"time"

	"github.com/zlog/zlog/collector/index/block"
	"github.com/zlog/zlog/query/ql"
)

// timedColumnFold is a fold that can take a block's times and the column
// of one stored field (block.Column) instead of its rows: stats by
// _time buckets of a field, where making each row's fields and reading
// them through a getter was most of a quantile by minute (measured).
// addTimedColumn adds the rows in lets through (all when nil) and
// reports false, having added nothing, for values it leaves to rows.
type timedColumnFold interface {
	columnField() string
	addTimedColumn(rows []block.Row, in []bool, col *block.Column) (ok bool)
}

// columnField is the one stored field the step's functions read when it
// is by nothing or by _time buckets alone, and its functions are count()
// or of that field (count_uniq aside, which formats values); "" for
// other steps.
func (a *statsGroups) columnField() string {
	s := a.s
	if len(s.by) > 1 || len(s.by) == 1 && (s.by[0].Field != ql.Time || s.bucket[0] <= 0) {
		return ""
	}
	field := ""
	for _, f := range s.funcs {
		switch {
		case f.Field == "":
		case f.Name == "count_uniq", shadowsFields(f.Field), field != "" && f.Field != field:
			return ""
		default:
			field = f.Field
		}
	}
	return field
}

// addTimedColumn adds a block's rows from their times and the column of
// columnField, holding integers; a row whose fields were stored whole is
// read from its text.
func (a *statsGroups) addTimedColumn(rows []block.Row, in []bool, col *block.Column) bool {
	if col.Kind != block.ColumnInt {
		return false
	}
	k, w := 0, 0 // the next row of col.Rows, of col.WholeRows
	for r := range rows {
		holds := k < len(col.Rows) && col.Rows[k] == uint32(r)
		whole := !holds && w < len(col.WholeRows) && col.WholeRows[w] == uint32(r)
		if in == nil || in[r] {
			g := a.groupAt(rows[r].Time)
			for i := range a.s.funcs {
				f := &a.s.funcs[i]
				switch {
				case f.Field == "":
					g.accs[i].n++
				case holds:
					g.accs[i].addNumber(f, float64(col.Ints[k]))
				case whole:
					v, ok := fieldOfRaw(col.Whole[w], f.Field)
					g.accs[i].add(f, v, ok)
				}
			}
		}
		if holds {
			k++
		} else if whole {
			w++
		}
	}
	return true
}

// groupAt is the group of an event at timeNs, of a step by _time buckets
// alone or by nothing. The group of the previous event's bucket is kept
// apart from addEvent's: comparing keys was a third of it (measured).
func (a *statsGroups) groupAt(timeNs int64) *statsGroup {
	bucket := int64(0)
	if len(a.s.by) == 1 {
		bucket = bucketStart(timeNs, a.s.bucket[0])
	}
	if a.atGroup != nil && bucket == a.atBucket {
		return a.atGroup
	}
	a.keyBuf = a.keyBuf[:0]
	if len(a.s.by) == 1 {
		a.keyBuf = append(appendTimeKey(a.keyBuf, bucket), 0)
	}
	g := a.group(func(name string) (any, bool) {
		if name == ql.Time {
			return time.Unix(0, timeNs).UTC(), true
		}
		return nil, false
	})
	a.atGroup, a.atBucket = g, bucket
	return g
}
