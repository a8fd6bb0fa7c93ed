package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/zlog/zlog/query"
	"github.com/zlog/zlog/query/live"
	"github.com/zlog/zlog/schema"
)

// Client asks a collector's query API.
type Client struct {
	base  *url.URL
	name  string // the collector, as errors name it
	token string
	http  *http.Client
	// Warn, when set, hears what the collector's searcher warned of while
	// answering (WarningHeader).
	Warn     func(msg string)
	retained retained
}

// NewClient returns a client for base (http://host:port). token, when not
// empty, is sent as a bearer token.
func NewClient(base, token string) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: collector address %q is not like http://host:4446", query.ErrBadQuery, base)
	}
	// No overall timeout: follow and tail stream for as long as they run.
	return &Client{base: u, name: u.Redacted(), token: token, http: &http.Client{}}, nil
}

// NewSocketClient returns a client for the query socket at path
// (SocketPath), or an error when no collector answers there: none was
// started, or one stopped without removing it.
func NewSocketClient(path string) (*Client, error) {
	conn, err := net.Dial("unix", path)
	if err != nil {
		return nil, fmt.Errorf("query socket %q: %w", path, err)
	}
	t := &socketTransport{path: path}
	t.first.Store(&conn)
	u := &url.URL{Scheme: "http", Host: "zlog-collector"}
	return &Client{base: u, name: path, http: &http.Client{Transport: t}}, nil
}

// maxLine bounds one NDJSON line: an event is at most MaxEvent bytes on the
// wire, and JSON escaping can grow it by up to six times.
const maxLine = 8 * schema.DefaultMaxEvent

func (c *Client) get(ctx context.Context, path string, params url.Values) (*http.Response, error) {
	u := c.base.JoinPath(path)
	u.RawQuery = params.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("collector %s: %w", c.name, err)
	}
	if resp.StatusCode == http.StatusOK {
		c.retained.hear(resp.Header)
		for _, msg := range resp.Header.Values(WarningHeader) {
			c.warn(msg)
		}
		return resp, nil
	}
	defer resp.Body.Close()
	var body errorBody
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(raw, &body) != nil || body.Error == "" {
		body.Error = strings.TrimSpace(string(raw))
	}
	msg := strings.TrimPrefix(body.Error, query.ErrBadQuery.Error()+": ")
	switch resp.StatusCode {
	case http.StatusBadRequest:
		return nil, &rejectedError{fmt.Errorf("%w: %s", query.ErrBadQuery, msg)}
	case http.StatusNotFound:
		if body.Code == codeNoSuchEvent {
			return nil, &rejectedError{fmt.Errorf("%w: %s", query.ErrNotFound, strings.TrimPrefix(msg, query.ErrNotFound.Error()+": "))}
		}
		return nil, &rejectedError{fmt.Errorf("%w: %s", query.ErrNoIndex, msg)}
	}
	return nil, &rejectedError{fmt.Errorf("collector %s answered %s: %s", c.name, resp.Status, msg)}
}

func (c *Client) getJSON(ctx context.Context, path string, params url.Values, v any) error {
	resp, err := c.get(ctx, path, params)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("collector %s: read answer: %w", c.name, err)
	}
	return nil
}

// check refuses a bad query before it is sent, in the words logq reading
// the index itself uses (--service, --limit), not the API's parameters;
// and it saves the round trip.
func check(q query.Query) error {
	_, err := query.Compile(q)
	return err
}

// Count is query.Searcher.Count over the API.
func (c *Client) Count(ctx context.Context, q query.Query) (int64, error) {
	if err := check(q); err != nil {
		return 0, err
	}
	var body struct {
		Count int64 `json:"count"`
	}
	v := EncodeQuery(q)
	v.Del(pLimit)
	v.Del(pOrder)
	err := c.getJSON(ctx, "api/v1/count", v, &body)
	return body.Count, err
}

// Run is query.Searcher.Run over the API. Values come back as JSON has
// them: numbers, strings (times in RFC 3339), booleans.
func (c *Client) Run(ctx context.Context, q query.Query) (*query.Table, error) {
	if err := check(q); err != nil {
		return nil, err
	}
	var t query.Table
	if err := c.getJSON(ctx, "api/v1/query", EncodeQuery(q), &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// Stats is query.Searcher.Stats over the API.
func (c *Client) Stats(ctx context.Context, q query.Query, by query.GroupBy, every time.Duration) (*query.Stats, error) {
	if err := check(q); err != nil {
		return nil, err
	}
	v := EncodeQuery(q)
	v.Del(pLimit)
	v.Del(pOrder)
	v.Set(pBy, string(by))
	if every > 0 {
		v.Set(pEvery, every.String())
	}
	var st query.Stats
	if err := c.getJSON(ctx, "api/v1/stats", v, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// RetainedFrom is query.Searcher.RetainedFrom over the API: what the last
// answer said (RetainedFromHeader), or, before any did, the collector's
// answer to asking.
func (c *Client) RetainedFrom(ctx context.Context) (time.Time, bool, error) {
	if from, ok, heard := c.retained.get(); heard {
		return from, ok, nil
	}
	var body struct {
		RetainedFrom *time.Time `json:"retained_from"`
	}
	if err := c.getJSON(ctx, "api/v1/retention", nil, &body); err != nil || body.RetainedFrom == nil {
		return time.Time{}, false, err
	}
	return *body.RetainedFrom, true, nil
}

// Context is an event by id and its neighbours, over the API.
func (c *Client) Context(ctx context.Context, id string, before, after int) (*query.Context, error) {
	v := url.Values{"id": {id}, "before": {strconv.Itoa(before)}, "after": {strconv.Itoa(after)}}
	var out query.Context
	if err := c.getJSON(ctx, "api/v1/context", v, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Search is query.Searcher.Search over the API.
func (c *Client) Search(ctx context.Context, q query.Query) (query.Iterator, error) {
	if err := check(q); err != nil {
		return nil, err
	}
	resp, err := c.get(ctx, "api/v1/search", EncodeQuery(q))
	if err != nil {
		return nil, err
	}
	return &lineIterator{body: resp.Body, lines: newLineScanner(resp.Body), warn: c.warn}, nil
}

func (c *Client) warn(msg string) {
	if c.Warn != nil {
		c.Warn(msg)
	}
}

// line is one NDJSON line: an event, a notice, a warning or an error.
type line struct {
	schema.Event
	Notice  string `json:"notice"`
	Warning string `json:"warning"`
	Error   string `json:"error"`
}

func newLineScanner(r io.Reader) *bufio.Scanner {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), maxLine)
	return s
}

func decodeLine(b []byte) (line, error) {
	var l line
	if err := json.Unmarshal(b, &l); err != nil {
		return l, fmt.Errorf("read answer: %w", err)
	}
	if l.Error != "" {
		return l, errors.New(l.Error)
	}
	return l, nil
}

type lineIterator struct {
	warn  func(string)
	body  io.ReadCloser
	lines *bufio.Scanner
	cur   schema.Event
	err   error
}

func (it *lineIterator) Next() bool {
	for it.err == nil && it.lines.Scan() {
		if len(it.lines.Bytes()) == 0 {
			continue
		}
		l, err := decodeLine(it.lines.Bytes())
		if err != nil {
			it.err = err
			return false
		}
		if l.Warning != "" {
			it.warn(l.Warning)
			continue
		}
		it.cur = l.Event
		return true
	}
	if it.err == nil {
		it.err = it.lines.Err()
	}
	return false
}

func (it *lineIterator) At() schema.Event { return it.cur }
func (it *lineIterator) Err() error       { return it.err }
func (it *lineIterator) Close() error     { return it.body.Close() }

// stream reads a follow or tail answer until ctx ends or emit stops it.
func (c *Client) stream(ctx context.Context, path string, v url.Values, emit func(*schema.Event) error, notice func(string)) error {
	resp, err := c.get(ctx, path, v)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	lines := newLineScanner(resp.Body)
	for lines.Scan() {
		if len(lines.Bytes()) == 0 {
			continue
		}
		l, err := decodeLine(lines.Bytes())
		if err != nil {
			return err
		}
		if l.Notice != "" {
			if notice != nil {
				notice(l.Notice)
			}
			continue
		}
		if err := emit(&l.Event); err != nil {
			if errors.Is(err, live.ErrStop) {
				return nil
			}
			return err
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := lines.Err(); err != nil {
		return fmt.Errorf("collector %s: %w", c.name, err)
	}
	return fmt.Errorf("collector %s closed the stream", c.name)
}

// Follow is live.Follow over the API.
func (c *Client) Follow(ctx context.Context, q query.Query, emit func(*schema.Event) error, notice func(string)) error {
	v := EncodeQuery(q)
	v.Del(pUntil)
	v.Del(pOrder)
	return c.stream(ctx, "api/v1/follow", v, emit, notice)
}

// Tail is live.Tail over the API. Like live.Tail it reconnects when the
// collector goes away; a rejected request (bad filter, token) ends it.
func (c *Client) Tail(ctx context.Context, f live.Filter, emit func(*schema.Event) error, notice func(string)) error {
	v := tailValues(f)
	for {
		err := c.stream(ctx, "api/v1/tail", v, emit, notice)
		var rejected *rejectedError
		if err == nil || errors.As(err, &rejected) || ctx.Err() != nil {
			return err
		}
		if notice != nil {
			notice(fmt.Sprintf("lost the collector (%v); reconnecting: live events until then are missed, logq search finds them", err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

// tailValues are the parameters of a tail request: a filter, no window.
func tailValues(f live.Filter) url.Values {
	v := EncodeQuery(query.Query{Words: f.Words, Services: f.Services, TopicPrefix: f.Topic, Host: f.Host, Labels: f.Labels, MinLevel: f.MinLevel})
	v.Del(pLimit)
	return v
}

// rejectedError is an answer other than 200: retrying cannot help.
type rejectedError struct{ err error }

func (e *rejectedError) Error() string { return e.err.Error() }
func (e *rejectedError) Unwrap() error { return e.err }
