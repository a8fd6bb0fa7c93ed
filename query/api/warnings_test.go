package api

import (
	"fmt"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
)

// Warnings from any goroutine go into the header while the status line
// has not gone out, and into the late list after.
func TestWarningsBeforeAndAfterTheStatusLine(t *testing.T) {
	rec := httptest.NewRecorder()
	w := &warnWriter{ResponseWriter: rec}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() { w.warn(fmt.Sprintf("early %d", i)) })
	}
	w.Header().Set("Content-Type", "application/json") // the handler's own, meanwhile
	wg.Wait()
	if _, err := w.Write([]byte("{}\n")); err != nil {
		t.Fatal(err)
	}
	w.warn("late\nwith a newline")
	early := rec.Result().Header.Values(WarningHeader)
	slices.Sort(early)
	if len(early) != 8 || early[0] != "early 0" || early[7] != "early 7" {
		t.Fatalf("header warnings %q", early)
	}
	if late := w.takeLate(); !slices.Equal(late, []string{"late\nwith a newline"}) || len(w.takeLate()) != 0 {
		t.Fatalf("late warnings %q", late)
	}
}
