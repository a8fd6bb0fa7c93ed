package block

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func codec(t testing.TB) *Codec {
	c, err := NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var goldenRows = []Row{
	{Time: 1764460800000000000, Series: 1, Message: "GET /api/orders 200 in 12 ms", Fields: `{"duration_ms":12,"path":"/api/orders"}`, Seq: 1},
	{Time: 1764460800000000000, Series: 2, Message: "same nanosecond, another series", Seq: 2},
	{Time: 1764460800500000000, Series: 1, Message: "Überwacher: 日本語 ünïcode", Seq: 3},
	{Time: 1764460801000000000, Series: 3, Message: "", Fields: `{"empty_message":true}`},
}

func TestRoundTrip(t *testing.T) {
	c := codec(t)
	for name, rows := range map[string][]Row{
		"golden":             goldenRows,
		"columns":            columnRows,
		"one":                {{Time: 5, Message: "only"}},
		"before 1970":        {{Time: -5, Message: "old"}, {Time: 3, Message: "new"}},
		"seq back and forth": {{Time: 1, Series: 1, Seq: 5}, {Time: 2, Series: 1}, {Time: 3, Series: 1, Seq: 1 << 63}, {Time: 4, Series: 1, Seq: 3}},
		"many":               manyRows(3000),
		"many with fields":   fieldRows(3000),
		"series far apart": {{Time: 1, Series: 7, Seq: 9}, {Time: 2, Series: 1 << 40, Seq: 4}, {Time: 3, Series: 7, Seq: 10},
			{Time: 4, Series: 1 << 40, Seq: 6}, {Time: 5, Series: 1 << 20, Seq: 2}, {Time: 6, Series: 1 << 20, Seq: 3}},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := c.Encode(rows)
			if err != nil {
				t.Fatal(err)
			}
			if b.Count != len(rows) || b.MinTime != rows[0].Time || b.MaxTime != rows[len(rows)-1].Time {
				t.Fatalf("block header %+v", b)
			}
			ss, err := UnmarshalSeries(MarshalSeries(b.Series, b.MaxTime), b.MaxTime)
			if err != nil || !reflect.DeepEqual(ss, b.Series) {
				t.Fatalf("series summary round trip: %+v, %v", ss, err)
			}
			got, err := c.Decode(b.Data, b.Messages)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, rows) {
				t.Fatalf("rows differ after a round trip:\n got %+v\nwant %+v", got[:min(3, len(got))], rows[:min(3, len(rows))])
			}
		})
	}
}

func manyRows(n int) []Row {
	rows := make([]Row, n)
	for i := range rows {
		rows[i] = Row{Time: int64(1e18 + i*1000), Series: int64(i % 3), Seq: uint64(i + 1), Message: fmt.Sprintf("request %d took %d ms id=%x", i, i%97, i*7919)}
	}
	return rows
}

// fieldRows are rows with fields as the bench's workload has them: some
// with a user, most with a duration, a few stored whole.
func fieldRows(n int) []Row {
	rows := manyRows(n)
	for i := range rows {
		switch {
		case i%8 == 0:
			rows[i].Fields = fmt.Sprintf(`{"duration_ms":%d,"status":%d,"user":"u%d"}`, i%900, 200+i%4*100, i*31%99999)
		case i%50 == 1:
			rows[i].Fields = fmt.Sprintf(`{"z":1,"duration_ms":%d}`, i)
		case i%3 != 0:
			rows[i].Fields = fmt.Sprintf(`{"duration_ms":%d}`, i%900)
		}
	}
	return rows
}

func TestEncodeRefusesDescendingTimes(t *testing.T) {
	if _, err := codec(t).Encode([]Row{{Time: 2}, {Time: 1}}); err == nil {
		t.Fatal("descending times accepted")
	}
	if _, err := codec(t).Encode(nil); err == nil {
		t.Fatal("empty block accepted")
	}
}

// columnRows are the golden rows of blocks whose fields are columns:
// every kind of column, and texts that are stored whole.
var columnRows = []Row{
	{Time: 1764460800000000000, Series: 1, Seq: 1, Message: "a", Fields: `{"duration_ms":12,"path":"/api/orders","user":"u1"}`},
	{Time: 1764460800000000001, Series: 2, Message: "no fields"},
	{Time: 1764460800000000002, Series: 1, Seq: 2, Message: "b", Fields: `{"duration_ms":-7,"ok":true,"ratio":0.25,"user":"say \"hi\" \u003c日本"}`},
	{Time: 1764460800000000003, Series: 1, Seq: 3, Message: "c", Fields: `{"user":"u2","duration_ms":3}`}, // keys out of order: whole
	{Time: 1764460800000000004, Series: 3, Message: "d", Fields: `{"n":007,"nested":{"a":[1,"}"]}}`},      // n no integer strconv writes
	{Time: 1764460800000000005, Series: 3, Message: "e", Fields: `{}`},
	{Time: 1764460800000000006, Series: 3, Message: "f", Fields: `{"a\"b":1}`},
	{Time: 1764460800000000007, Series: 3, Message: "g", Fields: `{"duration_ms":9223372036854775807,"n":1}`},
}

// The golden blocks must decode forever: a later codec that cannot read
// what an earlier one wrote breaks every partition on disk. block-v3
// holds messages and fields in one frame, block-v4 in two, block-v5 its
// messages apart, block-v7 its fields as columns too, block-v8 its series
// in a dictionary (the layout Encode writes). Regenerate the newest with ZLOG_UPDATE_GOLDEN=1 only when the
// layout changes.
func TestGoldenBlockDecodes(t *testing.T) {
	c := codec(t)
	newest := filepath.Join("testdata", "block-v8.hex")
	if os.Getenv("ZLOG_UPDATE_GOLDEN") != "" {
		b, err := c.Encode(columnRows)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(newest, []byte(hex.EncodeToString(b.Data)+"\n"+hex.EncodeToString(b.Messages)+"\n"), 0o644)
	}
	for _, g := range []struct {
		name string
		rows []Row
	}{{"block-v3.hex", goldenRows}, {"block-v4.hex", goldenRows}, {"block-v5.hex", goldenRows}, {"block-v7.hex", columnRows}, {"block-v8.hex", columnRows}} {
		data, messages := goldenPieces(t, g.name)
		got, err := c.Decode(data, messages)
		if err != nil {
			t.Fatalf("%s: %v", g.name, err)
		}
		if !reflect.DeepEqual(got, g.rows) {
			t.Fatalf("%s decodes to %+v", g.name, got)
		}
		// DecodeFields fills in the fields; of a split block, nothing else.
		rows, err := c.DecodeHead(data)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.DecodeFields(data, rows, nil); err != nil {
			t.Fatalf("%s: DecodeFields: %v", g.name, err)
		}
		for i, r := range rows {
			if r.Fields != g.rows[i].Fields || (g.name != "block-v3.hex" && r.Message != "") {
				t.Fatalf("%s: DecodeFields row %d: %+v", g.name, i, r)
			}
		}
	}
	b, err := c.Encode(columnRows)
	data, messages := goldenPieces(t, "block-v8.hex")
	if err != nil || !bytes.Equal(b.Data, data) || !bytes.Equal(b.Messages, messages) {
		t.Fatalf("Encode no longer writes block-v8's layout (%v)", err)
	}
	if _, err := c.Decode(data, nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a block whose messages are stored apart, without them: %v", err)
	}
}

// DecodeFields with only gives each row the named fields it holds, and
// the texts stored whole as they are.
func TestDecodeSomeFields(t *testing.T) {
	c := codec(t)
	data, _ := goldenPieces(t, "block-v7.hex")
	for _, tc := range []struct {
		only []string
		want []string
	}{
		{[]string{"user"}, []string{`{"user":"u1"}`, "", `{"user":"say \"hi\" \u003c日本"}`, columnRows[3].Fields, "", "{}", `{"a\"b":1}`, ""}},
		{[]string{"n", "duration_ms"}, []string{`{"duration_ms":12}`, "", `{"duration_ms":-7}`, columnRows[3].Fields,
			`{"n":007}`, "{}", `{"a\"b":1}`, `{"duration_ms":9223372036854775807,"n":1}`}},
		{[]string{"absent"}, []string{"", "", "", columnRows[3].Fields, "", "{}", `{"a\"b":1}`, ""}},
		{[]string{}, []string{"", "", "", columnRows[3].Fields, "", "{}", `{"a\"b":1}`, ""}},
	} {
		rows, err := c.DecodeFieldsInto(data, len(columnRows), nil, tc.only)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range rows {
			if r.Fields != tc.want[i] {
				t.Errorf("only %q, row %d: %q, want %q", tc.only, i, r.Fields, tc.want[i])
			}
		}
	}
}

func TestSplitObject(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []pair // nil: stored whole
	}{
		{`{"a":1}`, []pair{{"a", "1"}}},
		{`{"a":"x,y}","b":[1,{"c":"]"}],"c":null}`, []pair{{"a", `"x,y}"`}, {"b", `[1,{"c":"]"}]`}, {"c", "null"}}},
		{`{"a":"\"","b":2.5e3}`, []pair{{"a", `"\""`}, {"b", "2.5e3"}}},
		{`{"b":1,"a":2}`, nil},
		{`{"a":1,"a":2}`, nil},
		{`{"a":1,}`, nil},
		{`{"a":1} `, nil},
		{`{ "a":1}`, nil},
		{`{"a" :1}`, nil},
		{`{"a":}`, nil},
		{`{"a":"open}`, nil},
		{`{"a\u0041":1}`, nil},
		{`["a",1]`, nil},
		{`{"a":{"b":1}`, nil},
		{`{}`, nil},
	} {
		got, ok := splitObject(tc.in, nil)
		if ok != (tc.want != nil) || ok && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("splitObject(%s) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
}

// A block naming more fields than maxColumns keeps them in one frame.
func TestManyFieldNames(t *testing.T) {
	c := codec(t)
	rows := make([]Row, 2*maxColumns)
	for i := range rows {
		rows[i] = Row{Time: int64(i), Message: "m", Fields: fmt.Sprintf(`{"f%03d":%d}`, i, i)}
	}
	for _, n := range []int{maxColumns, 2 * maxColumns} {
		b, err := c.Encode(rows[:n])
		if err != nil {
			t.Fatal(err)
		}
		text, _ := afterHead(b.Data)
		if columns := text[0] == fieldColumns; columns != (n <= maxColumns) {
			t.Errorf("%d field names: stored as columns %v", n, columns)
		}
		got, err := c.Decode(b.Data, b.Messages)
		if err != nil || !reflect.DeepEqual(got, rows[:n]) {
			t.Fatalf("%d field names: round trip %v", n, err)
		}
	}
}

// goldenPieces reads a golden block: its data, and on a second line its
// messages stored apart (nil for blocks written before).
func goldenPieces(t testing.TB, name string) (data, messages []byte) {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(text))
	if data, err = hex.DecodeString(lines[0]); err == nil && len(lines) > 1 {
		messages, err = hex.DecodeString(lines[1])
	}
	if err != nil {
		t.Fatal(err)
	}
	return data, messages
}

func goldenData(t testing.TB, name string) []byte {
	data, _ := goldenPieces(t, name)
	return data
}

// DecodeHead reads times, series and seqs alone; DecodeText adds the rest;
// DecodeTimesInto reads times and series.
func TestDecodeHeadThenText(t *testing.T) {
	c := codec(t)
	b, err := c.Encode(goldenRows)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := c.DecodeHead(b.Data)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		if r.Time != goldenRows[i].Time || r.Series != goldenRows[i].Series || r.Seq != goldenRows[i].Seq || r.Message != "" {
			t.Fatalf("head row %d: %+v", i, r)
		}
	}
	if err := c.DecodeText(b.Data, b.Messages, rows, nil); err != nil || !reflect.DeepEqual(rows, goldenRows) {
		t.Fatalf("after DecodeText: %+v, %v", rows, err)
	}
	times, err := c.DecodeTimesInto(b.Data, nil)
	for i, r := range times {
		if err != nil || r.Time != goldenRows[i].Time || r.Series != goldenRows[i].Series || r.Seq != 0 || r.Message != "" {
			t.Fatalf("times row %d: %+v, %v", i, r, err)
		}
	}
}

// A borrowing codec decodes into memory it reuses (heads, messages and
// fields apart), with the same rows as a copying one, block after block.
func TestBorrowedDecodes(t *testing.T) {
	c, borrowed := codec(t), codec(t)
	borrowed.Borrow()
	var rows []Row
	for _, want := range [][]Row{goldenRows, manyRows(500), goldenRows[:2], columnRows, fieldRows(700)} {
		b, err := c.Encode(want)
		if err != nil {
			t.Fatal(err)
		}
		if rows, err = borrowed.DecodeHeadInto(b.Data, rows); err != nil {
			t.Fatal(err)
		}
		if err := borrowed.DecodeText(b.Data, b.Messages, rows, nil); err != nil || !reflect.DeepEqual(rows, want) {
			t.Fatalf("borrowed decode of %d rows: %v", len(want), err)
		}
		fields, err := borrowed.DecodeFieldsInto(b.Data, len(want), nil, nil)
		for i := range want {
			if err != nil || fields[i].Fields != want[i].Fields || fields[i].Message != "" {
				t.Fatalf("fields alone, row %d: %+v, %v", i, fields[i], err)
			}
		}
	}
}

func TestSeriesSummary(t *testing.T) {
	b, err := codec(t).Encode(goldenRows)
	if err != nil {
		t.Fatal(err)
	}
	want := []Series{{1, 2, 1764460800500000000}, {2, 1, 1764460800000000000}, {3, 1, 1764460801000000000}}
	if !reflect.DeepEqual(b.Series, want) {
		t.Fatalf("series %+v, want %+v", b.Series, want)
	}
	if _, err := UnmarshalSeries([]byte{2, 1}, 0); !errors.Is(err, ErrCorrupt) {
		t.Errorf("short summary: %v", err)
	}
	// Both layouts, as written: ids whole (before schema 10), and ids as
	// distances from the one before.
	maxTime := int64(1000)
	whole := []byte{2, 0x90, 0x4e, 3, 10, 0x95, 0x4e, 1, 0}           // 10000: 3 rows, 990; 10005: 1 row, 1000
	deltas := []byte{0, summaryDeltas, 2, 0x90, 0x4e, 3, 10, 5, 1, 0} // the same
	want = []Series{{10000, 3, 990}, {10005, 1, 1000}}
	if got := MarshalSeries(want, maxTime); !bytes.Equal(got, deltas) {
		t.Fatalf("MarshalSeries = %x, want %x", got, deltas)
	}
	for _, b := range [][]byte{whole, deltas} {
		got, err := UnmarshalSeries(b, maxTime)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("UnmarshalSeries(%x) = %+v, %v", b, got, err)
		}
		var each []Series
		if err := EachSeries(b, maxTime, func(s Series) bool { each = append(each, s); return true }); err != nil || !reflect.DeepEqual(each, want) {
			t.Fatalf("EachSeries(%x) = %+v, %v", b, each, err)
		}
	}
	if _, err := UnmarshalSeries([]byte{0, 9, 1, 1, 1, 0}, maxTime); !errors.Is(err, ErrCorrupt) {
		t.Errorf("summary of an unknown layout: %v", err)
	}
}

func TestDecodeRefusesGarbage(t *testing.T) {
	c := codec(t)
	b, _ := c.Encode(goldenRows)
	for name, data := range map[string][]byte{
		"empty":     nil,
		"not zstd":  []byte("hello, world"),
		"truncated": b.Data[:len(b.Data)/2],
		"head only": b.Data[:1+int(b.Data[0])],
		"zero rows": frames([]byte{0}, nil),
		"short":     frames([]byte{5, 2}, nil),
		"no text":   frames([]byte{1, 2, 3, 4}, []byte{}),
		"trailing":  frames([]byte{1, 2, 3, 4, 9}, []byte{0, 0}),
	} {
		if _, err := c.Decode(data, b.Messages); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
}

// frames makes block data of raw head and text columns.
func frames(head, text []byte) []byte {
	c, _ := NewCodec()
	h := c.enc.EncodeAll(head, nil)
	return c.enc.EncodeAll(text, append([]byte{byte(len(h))}, h...))
}

func FuzzDecode(f *testing.F) {
	c := codec(f)
	b, _ := c.Encode(goldenRows)
	f.Add(b.Data, b.Messages)
	f.Add(frames([]byte{3, 1, 1, 1}, []byte{0}), []byte(nil))
	f.Add(goldenData(f, "block-v3.hex"), []byte(nil)) // messages and fields in one frame
	f.Add(goldenData(f, "block-v4.hex"), []byte(nil)) // messages in their own frame, inside data
	v7data, v7messages := goldenPieces(f, "block-v7.hex")
	f.Add(v7data, v7messages) // fields as columns
	f.Fuzz(func(t *testing.T, data, messages []byte) {
		c.Decode(data, messages) // must not panic
		if rows, err := c.DecodeHead(data); err == nil {
			c.DecodeFields(data, rows, nil)
			c.DecodeFields(data, rows, []string{"user"})
		}
	})
}

// DecodeColumn reads one field's values as stored, and the texts stored
// whole beside them.
func TestDecodeColumn(t *testing.T) {
	c := codec(t)
	data, _ := goldenPieces(t, "block-v7.hex")
	whole := []string{columnRows[3].Fields, "{}", `{"a\"b":1}`}
	for name, want := range map[string]Column{
		"duration_ms": {Kind: ColumnInt, Rows: []uint32{0, 2, 7}, Ints: []int64{12, -7, 9223372036854775807}},
		"user":        {Kind: ColumnString, Rows: []uint32{0, 2}, Texts: []string{"u1", `say \"hi\" \u003c日本`}},
		"n":           {Kind: ColumnToken, Rows: []uint32{4, 7}, Texts: []string{"007", "1"}},
		"nested":      {Kind: ColumnToken, Rows: []uint32{4}, Texts: []string{`{"a":[1,"}"]}`}},
		"absent":      {Kind: ColumnToken},
	} {
		col, ok, err := c.DecodeColumn(data, len(columnRows), name)
		if err != nil || !ok {
			t.Fatalf("%s: %v %v", name, ok, err)
		}
		if !reflect.DeepEqual(col.WholeRows, []uint32{3, 5, 6}) || !reflect.DeepEqual(col.Whole, whole) {
			t.Errorf("%s: whole texts %v %q", name, col.WholeRows, col.Whole)
		}
		col.WholeRows, col.Whole = nil, nil
		if len(col.Rows) == 0 {
			col.Rows = nil
		}
		if len(col.Texts) == 0 {
			col.Texts = nil
		}
		if len(col.Ints) == 0 {
			col.Ints = nil
		}
		if !reflect.DeepEqual(col, want) {
			t.Errorf("%s: %+v, want %+v", name, col, want)
		}
	}
	if _, ok, err := c.DecodeColumn(goldenData(t, "block-v5.hex"), len(goldenRows), "duration_ms"); ok || err != nil {
		t.Errorf("a block whose fields are one frame: ok %v, %v", ok, err)
	}
}

// With the streams of its series, a block chains seqs through each
// stream: rows of 40 series (hosts) of 4 streams, each stream's seqs
// consecutive, come back as they went in, from a smaller head than
// chained per series; a series the function does not know of is its own
// chain.
func TestSeqsChainedByStream(t *testing.T) {
	rows := make([]Row, 4000)
	next := map[int64]uint64{}
	for i := range rows {
		series := int64(1 + (i*7919)%40)
		stream := series % 4
		next[stream]++
		rows[i] = Row{Time: int64(1e18 + i*1000), Series: series, Seq: next[stream] + uint64(stream)<<40, Message: "m"}
	}
	rows[17].Series, rows[17].Seq = 1000, 5 // not a series of any stream
	headBytes := func(streamOf func(int64) int64) int {
		c := codec(t)
		c.SetStreams(streamOf)
		b, err := c.Encode(rows)
		if err != nil {
			t.Fatal(err)
		}
		got, err := codec(t).Decode(b.Data, b.Messages)
		if err != nil || !reflect.DeepEqual(got, rows) {
			t.Fatalf("rows differ after a round trip (%v)", err)
		}
		n, _ := binary.Uvarint(b.Data)
		return int(n)
	}
	bySeries := headBytes(nil)
	byStream := headBytes(func(series int64) int64 {
		if series > 40 {
			return -series
		}
		return series % 4
	})
	if byStream >= bySeries*3/4 {
		t.Fatalf("head of %d bytes chained by stream, %d by series", byStream, bySeries)
	}
	t.Logf("head of %d bytes chained by stream, %d by series", byStream, bySeries)
}
