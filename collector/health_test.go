package collector

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealthNamesFailingSinks(t *testing.T) {
	var h health
	get := func() (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := get(); code != http.StatusOK || body != "ok\n" {
		t.Fatalf("healthy: %d %q", code, body)
	}
	h.fail("index", errors.New("database or disk is full"))
	h.fail("files", errors.New("no space left on device"))
	code, body := get()
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"index":{"error":"database or disk is full"`) || !strings.Contains(body, `"files"`) {
		t.Fatalf("failing: %d %s", code, body)
	}
	h.ok("index")
	h.ok("files")
	if code, _ := get(); code != http.StatusOK {
		t.Fatalf("recovered: %d", code)
	}
}
