package query

import (
	"math"
	"regexp"
	"time"

	"github.com/zlog/zlog/query/ql"
	"github.com/zlog/zlog/schema"
)

// compiled is a query language filter split by what can use it: the
// window and words go to the index, series conditions rule out series
// (and so blocks), and row conditions test each decoded event.
type compiled struct {
	words  []wordExpr
	series []cond
	rows   []cond
	lo, hi int64
	// rowNames are the fields row conditions read (the message for a
	// word, _time for a time, a series field for a stream): whether a
	// block's messages, seqs or series are needed follows from them.
	rowNames []string
}

// compiler resolves what the parser left as text (times, levels)
// against now and loc, with errors at their position in src.
type compiler struct {
	src string
	now time.Time
	loc *time.Location
}

func compileFilter(f ql.Filter, src string, now time.Time, loc *time.Location) (*compiled, error) {
	c := &compiler{src: src, now: now, loc: loc}
	out := &compiled{lo: math.MinInt64, hi: math.MaxInt64}
	items := []ql.Filter{f}
	if and, ok := f.(*ql.And); ok {
		items = and.Items
	}
	for _, x := range items {
		if lo, hi, ok, err := c.window(x); ok || err != nil {
			if err != nil {
				return nil, err
			}
			out.lo, out.hi = max(out.lo, lo), min(out.hi, hi)
			continue
		}
		if w, ok := pureWords(x); ok {
			out.words = append(out.words, w)
			continue
		}
		k, err := c.cond(x)
		if err != nil {
			return nil, err
		}
		if onSeries(x) {
			out.series = append(out.series, k)
		} else {
			out.rows = append(out.rows, k)
			namesRead(x, func(n string) { out.rowNames = append(out.rowNames, n) })
		}
	}
	return out, nil
}

// pureWords is x as words the index's filters can rule blocks out by:
// words, phrases and prefixes with no field, under AND and OR.
func pureWords(x ql.Filter) (wordExpr, bool) {
	switch x := x.(type) {
	case *ql.Word:
		if x.Field != "" {
			return nil, false
		}
		return wordOf(x), true
	case *ql.And, *ql.Or:
		items := children(x)
		out := make([]wordExpr, len(items))
		for i, it := range items {
			w, ok := pureWords(it)
			if !ok {
				return nil, false
			}
			out[i] = w
		}
		if _, isAnd := x.(*ql.And); isAnd {
			return andExpr(out), true
		}
		return orExpr(out), true
	}
	return nil, false
}

func wordOf(w *ql.Word) wordExpr {
	if !hasWord(w.Text) {
		return substring(w.Text)
	}
	return phraseOf(w.Text, w.Prefix)
}

func children(x ql.Filter) []ql.Filter {
	switch x := x.(type) {
	case *ql.And:
		return x.Items
	case *ql.Or:
		return x.Items
	case *ql.Not:
		return []ql.Filter{x.X}
	}
	return nil
}

// namesRead calls add with each field x reads.
func namesRead(x ql.Filter, add func(string)) {
	if kids := children(x); kids != nil {
		for _, k := range kids {
			namesRead(k, add)
		}
		return
	}
	switch x.(type) {
	case *ql.Any:
		return
	case *ql.Stream:
		add("publisher")
		return
	}
	if f := ql.FieldOf(x); f != "" {
		add(f)
		return
	}
	add(ql.Message)
	if _, ok := x.(*ql.Word); ok {
		add(fieldsText) // a word with no field is looked for in the fields too
	}
}

// onSeries reports whether x asks only what a series knows: service,
// level, host, publisher, topic.
func onSeries(x ql.Filter) bool {
	if _, ok := x.(*ql.Stream); ok {
		return true
	}
	if kids := children(x); kids != nil {
		for _, k := range kids {
			if !onSeries(k) {
				return false
			}
		}
		return true
	}
	return seriesFields[ql.FieldOf(x)]
}

// window is a filter on _time as a window [lo, hi] in ns.
func (c *compiler) window(x ql.Filter) (lo, hi int64, ok bool, err error) {
	lo, hi = math.MinInt64, math.MaxInt64
	switch x := x.(type) {
	case *ql.Last:
		d, err := ParseDuration(x.Duration)
		if err != nil {
			return 0, 0, true, ql.Errorf(c.src, x.Pos, "_time: %v", err)
		}
		return c.now.Add(-d).UnixNano(), hi, true, nil
	case *ql.Compare:
		if x.Field != ql.Time {
			return lo, hi, false, nil
		}
		t, err := c.time(x.Value, x.Pos)
		if err != nil {
			return 0, 0, true, err
		}
		switch x.Op {
		case ">":
			return t + 1, hi, true, nil
		case ">=":
			return t, hi, true, nil
		case "<":
			return lo, t - 1, true, nil
		}
		return lo, t, true, nil
	case *ql.Range:
		if x.Field != ql.Time {
			return lo, hi, false, nil
		}
		if lo, err = c.time(x.Lo, x.Pos); err != nil {
			return 0, 0, true, err
		}
		if hi, err = c.time(x.Hi, x.Pos); err != nil {
			return 0, 0, true, err
		}
		if !x.LoIncl {
			lo++
		}
		if !x.HiIncl {
			hi--
		}
		return lo, hi, true, nil
	}
	return lo, hi, false, nil
}

func (c *compiler) time(s string, pos int) (int64, error) {
	t, err := ParseTime(s, c.now, c.loc)
	if err != nil {
		return 0, ql.Errorf(c.src, pos, "_time: %v", err)
	}
	return t.UnixNano(), nil
}

// cond compiles any filter into a condition on an event.
func (c *compiler) cond(x ql.Filter) (cond, error) {
	if lo, hi, ok, err := c.window(x); ok || err != nil {
		return timeCond{lo, hi}, err
	}
	switch x := x.(type) {
	case *ql.And, *ql.Or:
		var out []cond
		for _, k := range children(x) {
			kc, err := c.cond(k)
			if err != nil {
				return nil, err
			}
			out = append(out, kc)
		}
		if _, isAnd := x.(*ql.And); isAnd {
			return andCond(out), nil
		}
		return orCond(out), nil
	case *ql.Not:
		k, err := c.cond(x.X)
		return notCond{k}, err
	case *ql.Any:
		return allCond{}, nil
	case *ql.Stream:
		return streamCond(x.Pairs), nil
	}
	return c.leaf(x)
}

func (c *compiler) leaf(x ql.Filter) (cond, error) {
	field := ql.FieldOf(x)
	if field == "level" {
		return c.levelCond(x)
	}
	switch x := x.(type) {
	case *ql.Word:
		switch {
		case x.Field == "":
			return wordsCond{wordOf(x)}, nil
		case seriesFields[x.Field]:
			return fieldCond{field: field, test: valueIs(x.Text, x.Prefix)}, nil
		}
		return fieldCond{field: field, test: wordsIn(phraseOf(x.Text, x.Prefix))}, nil
	case *ql.Exact:
		return fieldCond{field: orMessage(field), test: valueIs(x.Value, false)}, nil
	case *ql.Compare:
		return compare(field, x.Op, x.Value), nil
	case *ql.Range:
		return inRange(field, x.Lo, x.Hi, x.LoIncl, x.HiIncl), nil
	case *ql.Regex:
		re, err := regexp.Compile(x.Pattern)
		if err != nil {
			return nil, ql.Errorf(c.src, x.Pos, "%v", err)
		}
		if orMessage(field) == ql.Message {
			lits := requiredLiterals(re)
			return messageCond{test: regexTest(re, lits), lits: lits}, nil
		}
		return fieldCond{field: field, test: matchesRegex(re)}, nil
	case *ql.Exists:
		return fieldCond{field: field, test: nonEmpty}, nil
	}
	return nil, ql.Errorf(c.src, x.Position(), "cannot filter by %s here", x)
}

// orMessage is the field of a filter that, with none, means the message.
func orMessage(field string) string {
	if field == "" {
		return ql.Message
	}
	return field
}

// levelCond compares levels by severity: level:error, level:>=warn.
func (c *compiler) levelCond(x ql.Filter) (cond, error) {
	op, name, all, ok := ql.LevelCondition(x)
	switch {
	case all:
		return allCond{}, nil
	case !ok:
		return nil, ql.Errorf(c.src, x.Position(), "level takes a level (level:error) or a comparison (level:>=warn)")
	}
	l, err := schema.ParseLevel(name)
	if err != nil {
		return nil, ql.Errorf(c.src, x.Position(), "%v", err)
	}
	return fieldCond{field: "level", test: levelTest(op, l)}, nil
}
