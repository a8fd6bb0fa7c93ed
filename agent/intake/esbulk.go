package intake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/zlog/zlog/schema"
)

// esVersion is the Elasticsearch version the intake says it is: shippers
// (Filebeat, Vector, Logstash) read it at start-up to pick their request
// format, and refuse versions they do not know.
const esVersion = "8.11.0"

// esRoutes mounts the bulk endpoints and the few read-only ones shippers
// probe before they send.
func (s *Server) esRoutes(mux *http.ServeMux) {
	for _, p := range []string{"/_bulk", "/{index}/_bulk"} {
		mux.HandleFunc("POST "+p, s.guard(s.esBulk))
		mux.HandleFunc("PUT "+p, s.guard(s.esBulk))
	}
	info := map[string]any{"name": "zlog-agent", "cluster_name": "zlog", "cluster_uuid": "zlog",
		"version": map[string]any{"number": esVersion, "build_flavor": "default", "build_type": "tar",
			"lucene_version": "9.8.0", "minimum_wire_compatibility_version": "7.17.0", "minimum_index_compatibility_version": "7.0.0"},
		"tagline": "You Know, for Search"}
	static := map[string]any{
		"/{$}":             info,
		"/_license":        map[string]any{"license": map[string]any{"status": "active", "type": "basic", "uid": "zlog"}},
		"/_xpack":          map[string]any{"build": map[string]any{}, "features": map[string]any{}, "license": map[string]any{"status": "active", "type": "basic"}},
		"/_cluster/health": map[string]any{"cluster_name": "zlog", "status": "green", "number_of_nodes": 1},
	}
	for path, v := range static {
		body, _ := json.Marshal(v)
		serve := s.guard(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(body)
		})
		mux.HandleFunc("GET "+path, serve)
		mux.HandleFunc("HEAD "+path, serve)
	}
}

// esItem is one action's outcome in a bulk response.
type esItem struct {
	action string   // index, create, …: the item's key in the response
	Index  string   `json:"_index"`
	ID     string   `json:"_id"`
	Status int      `json:"status"`
	Result string   `json:"result,omitempty"`
	Error  *esError `json:"error,omitempty"`
}

type esError struct {
	Type   string `json:"type"`
	Reason string `json:"reason"`
}

// esAction is a bulk action line: {"index": {...}}, {"create": {...}}.
type esAction map[string]struct {
	Index string `json:"_index"`
	ID    string `json:"_id"`
}

// esBulk serves the bulk API: action lines, each index or create followed
// by its document. Documents are read as JSON records with ECS names
// (@timestamp, message, log.level, host.name, service.name) or plain ones
// (time, level, msg). The answer is Elasticsearch's: 200 with one status
// per item, 429 for those the Sink was too busy to take (shippers retry
// those), 400 for a document or action that cannot be read.
func (s *Server) esBulk(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	body, err := s.body(w, r)
	if err != nil {
		s.bodyError(w, err)
		return
	}
	items, ops, evs := s.bulkItems(body, r.PathValue("index"))
	errs, _, _, _ := s.accept(r.Context(), evs)
	for i, err := range errs {
		it := &items[ops[i]]
		switch {
		case err == nil:
			it.Status, it.Result = http.StatusCreated, "created"
		case errors.Is(err, ErrBusy):
			it.Status, it.Error = http.StatusTooManyRequests, &esError{"es_rejected_execution_exception", err.Error()}
		default:
			it.Status, it.Error = http.StatusBadRequest, &esError{"document_parsing_exception", err.Error()}
		}
	}
	resp := struct {
		Took   int64            `json:"took"`
		Errors bool             `json:"errors"`
		Items  []map[string]any `json:"items"`
	}{Took: time.Since(start).Milliseconds(), Items: make([]map[string]any, len(items))}
	for i := range items {
		resp.Errors = resp.Errors || items[i].Error != nil
		resp.Items[i] = map[string]any{items[i].action: &items[i]}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
}

// bulkItems reads the actions and documents of a bulk body. items has one
// entry per action; evs the events to accept, ops[i] the item of evs[i].
// Actions or documents that cannot be read are answered in items at once.
func (s *Server) bulkItems(body []byte, index string) (items []esItem, ops []int, evs []schema.Event) {
	p, err := s.parser(recordSpec{message: "message", time: "@timestamp", service: "service.name"})
	lines := bytes.Split(body, []byte("\n"))
	prefix := strconv.FormatInt(time.Now().UnixNano(), 36)
	for i := 0; i < len(lines); i++ {
		line := bytes.TrimSpace(lines[i])
		if len(line) == 0 {
			continue
		}
		name, meta, actionErr := bulkAction(line)
		if err != nil { // the parser could not be made: every item says why
			actionErr = err
		}
		if meta.Index == "" {
			meta.Index = index
		}
		if meta.ID == "" {
			meta.ID = prefix + "-" + strconv.Itoa(len(items))
		}
		it := esItem{action: name, Index: meta.Index, ID: meta.ID}
		switch {
		case actionErr != nil:
			it.Status, it.Error = http.StatusBadRequest, &esError{"action_request_validation_exception", actionErr.Error()}
			it.action = "index"
		case name == "delete":
			it.Status, it.Error = http.StatusBadRequest, &esError{"action_request_validation_exception", "delete is not supported: logs are only appended"}
		case i+1 >= len(lines):
			it.Status, it.Error = http.StatusBadRequest, &esError{"action_request_validation_exception", name + " without a document"}
		case name == "update":
			i++
			it.Status, it.Error = http.StatusBadRequest, &esError{"action_request_validation_exception", "update is not supported: logs are only appended"}
		default:
			i++
			ev, docErr := s.record(p, bytes.TrimSpace(lines[i]), recordSpec{service: "service.name"})
			if docErr != nil {
				it.Status, it.Error = http.StatusBadRequest, &esError{"document_parsing_exception", docErr.Error()}
				break
			}
			ops = append(ops, len(items))
			evs = append(evs, ev)
		}
		items = append(items, it)
	}
	return items, ops, evs
}

// bulkAction reads an action line.
func bulkAction(line []byte) (string, struct{ Index, ID string }, error) {
	var a esAction
	var meta struct{ Index, ID string }
	if err := json.Unmarshal(line, &a); err != nil || len(a) != 1 {
		return "", meta, fmt.Errorf("not a bulk action line: %.80q", line)
	}
	for name, m := range a {
		switch name {
		case "index", "create", "delete", "update":
			meta.Index, meta.ID = m.Index, m.ID
			return name, meta, nil
		}
		return "", meta, fmt.Errorf("unknown bulk action %q", name)
	}
	return "", meta, nil
}
