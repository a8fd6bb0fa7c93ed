// Package vlstore keeps a collector's events in VictoriaLogs, a single
// node or a cluster's vlinsert and vlselect, instead of the SQLite index
// (issue #19, first step: writing, and reading back what is stored).
//
// VictoriaLogs answers 200 to an insert before the rows are on disk and
// deduplicates nothing, so this store never takes a 200 for durability:
// Write only sends, and Count asks, after the cluster's flush interval, a
// non-partial count of a stream's sequence range. Only a range whose count
// is complete may be acknowledged to its publisher; Missing names the
// sequence numbers to ask the publisher for again, so that what is there
// is never written twice.
//
// Each event is one JSON line. The stream fields are service, host and
// publisher; the time is its Unix nanoseconds; topic, level and seq are
// fields, labels and typed fields keep their names (a field whose name is
// one of those is stored as "field.<name>"), and the message is _msg.
package vlstore

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zlog/zlog/schema"
)

// Options name the cluster's endpoints. Zero values take the defaults.
type Options struct {
	InsertURL string // base URL of vlinsert (or a single node), e.g. http://127.0.0.1:9481
	SelectURL string // base URL of vlselect (or a single node)
	// Timeout bounds one request; 30s. A write that times out is not
	// retried blindly: what it stored is found by Count.
	Timeout time.Duration
}

// Store writes to and reads from VictoriaLogs.
type Store struct {
	opts   Options
	client *http.Client // bounded by Timeout: the sink's writes and counts
	stream *http.Client // bounded by the caller's context: searches
	logger *slog.Logger
}

// New checks the URLs.
func New(opts Options, logger *slog.Logger) (*Store, error) {
	for name, u := range map[string]string{"insert": opts.InsertURL, "select": opts.SelectURL} {
		if u == "" && name == "insert" {
			continue // a reader's store: Write refuses
		}
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return nil, fmt.Errorf("victorialogs %s URL %q: want http(s)://HOST:PORT", name, u)
		}
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	opts.InsertURL = strings.TrimRight(opts.InsertURL, "/")
	opts.SelectURL = strings.TrimRight(opts.SelectURL, "/")
	return &Store{opts: opts, client: &http.Client{Timeout: opts.Timeout}, stream: &http.Client{}, logger: logger.With("component", "vlstore")}, nil
}

// streamFields are VictoriaLogs' stream fields for zlog's events.
const streamFields = "service,host,publisher"

// reserved are the names the store gives an event's own parts.
var reserved = map[string]bool{"_time": true, "_msg": true, "_stream": true, "_stream_id": true, "service": true,
	"host": true, "publisher": true, "topic": true, "level": true, "seq": true, LabelsField: true}

// LabelsField names, comma-separated, which of an event's fields are its
// source labels, so that reading it back tells labels from fields.
const LabelsField = "zlog.labels"

// storedName is the name an event's label or field is stored under.
func storedName(k string) string {
	if reserved[k] {
		return "field." + k
	}
	return k
}

// AppendLine appends ev as one JSON line.
func AppendLine(b []byte, ev *schema.Event) []byte {
	b = append(b, `{"_time":"`...)
	b = strconv.AppendInt(b, ev.Time.UnixNano(), 10)
	b = append(b, `","_msg":`...)
	b = appendString(b, ev.Message)
	for _, kv := range [][2]string{{"service", ev.Service}, {"host", ev.Host}, {"publisher", ev.Publisher},
		{"topic", ev.Topic()}, {"level", ev.Level.String()}} {
		b = append(b, ',')
		b = appendString(b, kv[0])
		b = append(b, ':')
		b = appendString(b, kv[1])
	}
	if ev.Seq != 0 {
		b = append(b, `,"seq":`...)
		b = strconv.AppendUint(b, ev.Seq, 10)
	}
	if len(ev.Labels) > 0 {
		b = append(b, ',')
		b = appendString(b, LabelsField)
		b = append(b, ':')
		b = appendString(b, strings.Join(slices.Sorted(maps.Keys(ev.Labels)), ","))
	}
	for k, v := range ev.Labels {
		b = appendMember(b, k, v)
	}
	for k, v := range ev.Fields {
		b = appendMember(b, k, v)
	}
	return append(b, "}\n"...)
}

func appendMember(b []byte, k string, v any) []byte {
	b = append(b, ',')
	b = appendString(b, storedName(k))
	b = append(b, ':')
	switch v.(type) {
	case int64, float64, bool:
		// VictoriaLogs keeps every value as text; numbers stay numbers
		// for its range filters.
		return schema.AppendValue(b, v)
	}
	return appendString(b, schema.FormatValue(v))
}

func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q...)
}

// ErrStore wraps a request VictoriaLogs refused or did not answer.
var ErrStore = errors.New("victorialogs")

// ErrUnavailable wraps a query vlselect refused because a storage node did
// not answer (502, 503, 504): the whole answer is not there.
var ErrUnavailable = errors.New("a storage node is unavailable")

// AllowPartial is Each's parameter for an answer from the storage nodes
// that answer, without the others' rows (and with no sign of it).
var AllowPartial = url.Values{"allow_partial_response": {"1"}}

// Write sends batch to vlinsert. Its success says only that the request
// was taken: durability is Count's to confirm.
func (s *Store) Write(ctx context.Context, batch []schema.Event) error {
	if len(batch) == 0 {
		return nil
	}
	if s.opts.InsertURL == "" {
		return fmt.Errorf("%w: no insert URL to write %d events to", ErrStore, len(batch))
	}
	var body []byte
	for i := range batch {
		body = AppendLine(body, &batch[i])
	}
	q := url.Values{"_stream_fields": {streamFields}, "_time_field": {"_time"}, "_msg_field": {"_msg"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.opts.InsertURL+"/insert/jsonline?"+q.Encode(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/stream+json")
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: insert %d events: %w", ErrStore, len(batch), err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%w: insert %d events: %s: %s", ErrStore, len(batch), resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// Close releases idle connections.
func (s *Store) Close() error {
	s.client.CloseIdleConnections()
	s.stream.CloseIdleConnections()
	return nil
}

// streamFilter is the LogsQL filter of one zlog stream.
func streamFilter(st schema.Stream) string {
	return "publisher:=" + strconv.Quote(st.Publisher) + " topic:=" + strconv.Quote(st.Topic)
}

// Count is how many events of st with from <= seq <= to VictoriaLogs
// holds, asked of every storage node (an unavailable node fails the
// query: a partial count is never taken for a complete one).
func (s *Store) Count(ctx context.Context, st schema.Stream, from, to uint64) (int64, error) {
	rows, err := s.Query(ctx, fmt.Sprintf("%s seq:range[%d, %d] | stats count() as n", streamFilter(st), from, to))
	if err != nil {
		return 0, err
	}
	if len(rows) == 0 {
		return 0, nil
	}
	return strconv.ParseInt(rows[0]["n"], 10, 64)
}

// Missing lists the seqs in [from, to] of st that VictoriaLogs does not
// hold, in order.
func (s *Store) Missing(ctx context.Context, st schema.Stream, from, to uint64) ([]uint64, error) {
	rows, err := s.Query(ctx, fmt.Sprintf("%s seq:range[%d, %d] | uniq by (seq)", streamFilter(st), from, to))
	if err != nil {
		return nil, err
	}
	have := make(map[uint64]bool, len(rows))
	for _, r := range rows {
		if n, err := strconv.ParseUint(r["seq"], 10, 64); err == nil {
			have[n] = true
		}
	}
	var out []uint64
	for n := from; n <= to; n++ {
		if !have[n] {
			out = append(out, n)
		}
	}
	return out, nil
}

// Extent is what VictoriaLogs holds of one stream: its lowest and highest
// seq, how many distinct seqs (Count == Hi-Lo+1 when nothing is missing
// between them), and the time of its oldest event.
type Extent struct {
	Lo, Hi, Count uint64
	First         time.Time
}

// Extents reads every stream's extent in one query.
func (s *Store) Extents(ctx context.Context) (map[schema.Stream]Extent, error) {
	rows, err := s.Query(ctx, `seq:>0 | stats by (publisher, topic) min(seq) as lo, max(seq) as hi, count_uniq(seq) as n, min(_time) as first`)
	if err != nil {
		return nil, err
	}
	out := make(map[schema.Stream]Extent, len(rows))
	for _, r := range rows {
		st := schema.Stream{Publisher: r["publisher"], Topic: r["topic"]}
		var e Extent
		_, err := fmt.Sscan(r["lo"]+" "+r["hi"]+" "+r["n"], &e.Lo, &e.Hi, &e.Count)
		if err == nil {
			e.First, err = time.Parse(time.RFC3339Nano, r["first"])
		}
		if err != nil {
			return nil, fmt.Errorf("%w: extent of %v: %v: %w", ErrStore, st, r, err)
		}
		out[st] = e
	}
	return out, nil
}

// Mark is what VictoriaLogs holds of one stream: its lowest and highest
// seq, and Whole, the highest up to which none is missing from the lowest
// on (0 for a stream that may still be arriving below its lowest).
type Mark struct{ Lo, Hi, Whole uint64 }

// settleTime is how long after its oldest event a stream whose lowest
// stored seq is above 1 is taken to start there. VictoriaLogs makes the
// rows of one insert readable before those of an earlier one now and then
// (its rows buffer has a shard per CPU, each flushed on its own, about a
// second apart), so a new stream can show seqs 1001.. while 1..1000 are
// still coming; until then its mark is 0, since nothing is known whole
// from its first event on.
const settleTime = time.Minute

// Marks reads every stream's mark.
func (s *Store) Marks(ctx context.Context) (map[schema.Stream]Mark, error) {
	extents, err := s.Extents(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[schema.Stream]Mark, len(extents))
	for st, e := range extents {
		m := Mark{Lo: e.Lo, Hi: e.Hi, Whole: e.Hi}
		switch {
		case e.Lo > 1 && time.Since(e.First) < settleTime:
			m.Whole = 0
		case e.Count != e.Hi-e.Lo+1:
			if m.Whole, err = s.firstHole(ctx, st, e.Lo, e.Hi); err != nil {
				return nil, err
			}
		}
		out[st] = m
	}
	return out, nil
}

// firstHole finds, by halving, the highest m in [lo, hi] with every seq
// from lo to m stored.
func (s *Store) firstHole(ctx context.Context, st schema.Stream, lo, hi uint64) (uint64, error) {
	good := lo // lo is stored: it is the minimum
	for good < hi {
		mid := good + (hi-good+1)/2
		n, err := s.Count(ctx, st, lo, mid)
		if err != nil {
			return 0, err
		}
		if uint64(n) == mid-lo+1 {
			good = mid
		} else {
			hi = mid - 1
		}
	}
	return good, nil
}

// Query runs a LogsQL query over all time on vlselect and returns its
// rows.
func (s *Store) Query(ctx context.Context, q string) ([]map[string]string, error) {
	var rows []map[string]string
	err := s.each(ctx, s.client, q, nil, func(r Row) error {
		rows = append(rows, r)
		return nil
	})
	return rows, err
}

// Each runs a LogsQL query on vlselect, with the extra parameters of
// /select/logsql/query (limit, start, end), and gives fn each row as it
// streams in; an error of fn ends the query and is returned. Only ctx
// bounds its time: an answer may be long.
func (s *Store) Each(ctx context.Context, q string, extra url.Values, fn func(Row) error) error {
	return s.each(ctx, s.stream, q, extra, fn)
}

func (s *Store) each(ctx context.Context, client *http.Client, q string, extra url.Values, fn func(Row) error) error {
	form := url.Values{"query": {q}}
	for k, v := range extra {
		form[k] = v
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.opts.SelectURL+"/select/logsql/query", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: query %q: %w", ErrStore, q, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		err := fmt.Errorf("%w: query %q: %s: %s", ErrStore, q, resp.Status, bytes.TrimSpace(msg))
		switch resp.StatusCode {
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			err = fmt.Errorf("%w (%w)", err, ErrUnavailable)
		}
		return err
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var row Row
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			return fmt.Errorf("%w: query %q: row %q: %w", ErrStore, q, sc.Bytes(), err)
		}
		if err := fn(row); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: query %q: %w", ErrStore, q, err)
	}
	return nil
}

// FieldNames lists the names of the fields of the rows q matches.
func (s *Store) FieldNames(ctx context.Context, q string) ([]string, error) {
	u := s.opts.SelectURL + "/select/logsql/field_names?" + url.Values{"query": {q}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.stream.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: field names of %q: %w", ErrStore, q, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("%w: field names of %q: %s: %s", ErrStore, q, resp.Status, bytes.TrimSpace(msg))
	}
	var body struct {
		Values []struct {
			Value string `json:"value"`
		} `json:"values"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("%w: field names of %q: %w", ErrStore, q, err)
	}
	names := make([]string, len(body.Values))
	for i, v := range body.Values {
		names[i] = v.Value
	}
	return names, nil
}

// String names the store by its select URL.
func (s *Store) String() string { return s.opts.SelectURL }
