package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/zlog/zlog/schema"
	"github.com/zlog/zlog/tests/harness"
)

// search types q into the query box and runs it.
func search(b page, q string) {
	b.setValue("#q", q)
	b.click("#run")
}

// countIs is the JavaScript condition that the page shows n matches and
// has listed them (up to a page).
func countIs(n int) string {
	return fmt.Sprintf(`document.querySelector('#count').textContent.replace(/,/g, '') === '%d event%s' && document.querySelectorAll('#events > li').length === %d`,
		n, map[bool]string{true: "", false: "s"}[n == 1], min(n, 100))
}

// TestWebUI drives the collector's page in headless Chromium over events
// with known counts: the overview, a search and its count and rows, a
// field clicked into a filter, a bad query's error at its position, a drag
// on the histogram zooming the range in the URL, live tail continuing a
// search in order with nothing missing (and holding new events behind a
// marker while the user reads further down), an event's context, and stats as
// a table and a chart. Screenshots of each view go to the test's artifact
// directory (go test -artifacts -outputdir DIR keeps them; docs/ holds
// the README's, copied from there).
func TestWebUI(t *testing.T) {
	eachBrowser(t, func(t *testing.T, open func(base string) page) {
		work := harness.WorkDir(t)
		data := filepath.Join(work, "data")
		webUI(t, open, harness.StartCollector(t, binDir, work, data), []string{"--data", data})
	})
}

// The same page on a collector storing into VictoriaLogs (issue #19): every
// view answers from VictoriaLogs through the collector's API, live tail
// included. Chromium only: the page is the same, the store differs.
func TestWebUIOnVictoriaLogs(t *testing.T) {
	work := harness.WorkDir(t)
	_, vl := startVictoriaLogs(t, work)
	col := harness.StartCollector(t, binDir, work, filepath.Join(work, "data"),
		"--store", "victorialogs", "--vl-insert", vl, "--vl-select", vl, "--vl-flush-interval", "1s")
	webUI(t, func(base string) page { return newChromium(t, base, t.ArtifactDir()) }, col, []string{"--store", "victorialogs", "--vl-select", vl})
}

// webUI runs the page's scenario on col, whose events logq reads with src.
func webUI(t *testing.T, open func(base string) page, col *harness.Collector, src []string) {
	var lines strings.Builder
	for i := 0; i < 30; i++ {
		level := map[bool]string{true: "error", false: "info"}[i%3 == 0]
		fmt.Fprintf(&lines, `{"level":%q,"msg":"order %d paid","user":%q,"amount":%d}`+"\n", level, i, []string{"ann", "bob"}[i%2], i)
	}
	agentPipe(t, col.XSub, "shop", lines.String())
	agentPipe(t, col.XSub, "web", "WARN slow page\n")
	waitStoredIn(t, src, 31)
	base := "http://" + col.HTTP
	b := open(base)

	// The overview lists services and levels, each a link into search.
	b.navigate(base + "/")
	b.until("services listed", `[...document.querySelectorAll('#services a')].map(a => a.textContent).join(',') === 'shop,web'`)
	b.screenshot("overview")
	b.click(`#services a`)
	b.until("the service's events counted", countIs(30))
	b.screenshot("search")

	// A query: count, rows newest first.
	search(b, "service:shop level:error")
	b.until("errors counted", countIs(10))
	first := eval[string](b, `document.querySelector('#events li .msg').textContent`)
	rows := eval[int](b, `document.querySelectorAll('#events > li').length`)
	if first != "order 27 paid" || rows != 10 {
		t.Errorf("errors: first row %q, %d rows; want order 27 paid, 10", first, rows)
	}

	// A field value clicked into a filter: bob's errors (3, 9, …, 27).
	b.click(`#events > li`)
	b.click(`.fields button[data-filter="user"]`)
	b.until("bob's errors counted", countIs(5))
	loc := eval[string](b, `location.search`)
	if !strings.Contains(loc, "user") {
		t.Errorf("the URL does not hold the filter: %s", loc)
	}
	b.screenshot("filtered")

	// The same value excluded instead: the other user's errors (0, 6, …, 24).
	search(b, "service:shop level:error")
	b.until("errors counted", countIs(10))
	b.click(`#events > li`)
	b.click(`.fields button[data-exclude="user"]`)
	b.until("all but bob's errors counted", countIs(5)+` && document.querySelector('#events li .msg').textContent === 'order 24 paid'`)

	// A bad query says where it is wrong.
	search(b, "service:shop level:(")
	b.until("the error shown", `!document.querySelector('#error').hidden && /position \d+/.test(document.querySelector('#error').textContent) && !document.querySelector('#caret').hidden`)
	b.screenshot("error")

	// A drag across the histogram zooms into that range, in the URL.
	search(b, "service:shop")
	b.until("the service's events", countIs(30))
	b.until("the histogram drawn", `document.querySelectorAll('#histogram rect[data-level]').length > 0`)
	box := eval[[]float64](b, `(() => { const r = document.querySelector('#histogram svg').getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })()`)
	y := box[1] + box[3]/2
	// From the middle to past the right edge (the newest events are in the
	// last seconds): the range becomes its second half.
	b.drag(box[0]+box[2]*0.5, y, box[0]+box[2]+3, y)
	b.until("the range zoomed", `location.search.includes('from=') && location.search.includes('to=')`)
	b.until("the zoomed range's events", countIs(30))
	b.screenshot("zoomed")
	b.navigate(base + "/?q=service:shop&range=1h")
	b.until("the service's events", countIs(30))

	// Context: the events of the same source around one, ten each side.
	search(b, "service:shop amount:=15")
	b.until("one event", countIs(1))
	b.click(`#events > li`)
	b.click(`.fields button[title^="Events of the same stream"]`)
	b.until("context shown", `!document.querySelector('#context').hidden && document.querySelectorAll('#context-events > li').length === 21`)
	hit := eval[string](b, `document.querySelector('#context-events li.hit .msg').textContent`)
	if hit != "order 15 paid" {
		t.Errorf("context centred on %q", hit)
	}
	b.screenshot("context")
	b.click("#context-close")

	// Stats: by a field as a table with bars, by time as a chart.
	search(b, "service:shop | stats by (user) count() as n")
	b.until("a table of users", `[...document.querySelectorAll('#table tr')].slice(1).map(r => r.textContent).join(',') === 'ann15,bob15'`)
	search(b, "| stats by (_time:1m, level) count()")
	b.until("a chart", `document.querySelector('#chart svg polyline') !== null`)
	b.screenshot("stats")

	// Live: a search continues with new events as they come, newest first,
	// none missing or twice.
	agentPipe(t, col.XSub, "live", "INFO before 0\nINFO before 1\n")
	waitStoredIn(t, src, 2, "service:live")
	b.navigate(base + "/?q=service:live&range=1h&live=1")
	b.until("following", `document.querySelector('#live-note').textContent.startsWith('live') && document.querySelectorAll('#events > li').length === 2`)
	var more strings.Builder
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&more, "INFO after %d\n", i)
	}
	agentPipe(t, col.XSub, "live", more.String())
	b.until("the new events shown", `document.querySelectorAll('#events > li').length === 22`)
	msgs := eval[[]string](b, `[...document.querySelectorAll('#events > li .msg')].map(e => e.textContent)`)
	want := []string{}
	for i := 19; i >= 0; i-- {
		want = append(want, fmt.Sprintf("INFO after %d", i)) // the line, as the agent keeps it
	}
	want = append(want, "INFO before 1", "INFO before 0")
	if strings.Join(msgs, "|") != strings.Join(want, "|") {
		t.Errorf("live rows:\n got %q\nwant %q", msgs, want)
	}
	b.screenshot("live")

	// Scrolled away from the top, new events wait behind a marker; a
	// click on it shows them.
	eval[bool](b, `(() => { document.body.style.paddingBottom = '3000px'; window.scrollTo(0, 600); return true; })()`)
	b.until("scrolled", `window.scrollY > 40`)
	agentPipe(t, col.XSub, "live", "INFO later 0\nINFO later 1\nINFO later 2\n")
	b.until("the marker", `!document.querySelector('#new-events').hidden && document.querySelector('#new-events').textContent.startsWith('3 new events')`)
	if n := eval[int](b, `document.querySelectorAll('#events > li').length`); n != 22 {
		t.Errorf("%d rows while scrolled away, want the 22 from before", n)
	}
	b.click("#new-events")
	b.until("all shown, newest first", `document.querySelectorAll('#events > li').length === 25 && document.querySelector('#events li .msg').textContent === 'INFO later 2'`)

	// Past 1,000 held events the page keeps none of the rest, counts them,
	// and shows them by searching again (the index has them all).
	eval[bool](b, `(() => { window.scrollTo(0, 600); return true; })()`)
	b.until("scrolled again", `window.scrollY > 40`)
	var many strings.Builder
	for i := 0; i < 1005; i++ {
		fmt.Fprintf(&many, "INFO burst %d\n", i)
	}
	agentPipe(t, col.XSub, "live", many.String())
	b.until("the marker counts them all", `document.querySelector('#new-events').textContent.startsWith('1005 new events — search again')`)
	if n := eval[int](b, `document.querySelectorAll('#events > li').length`); n != 25 {
		t.Errorf("%d rows while scrolled away, want the 25 from before", n)
	}
	b.click("#new-events")
	b.until("the search counts them", countIs(1030))
}

// TestWebUILogin: with --http-token-file the page asks for the token, and
// with it (kept in the tab's session storage) shows the collector's data;
// the page itself needs none, the API every time.
func TestWebUILogin(t *testing.T) { eachBrowser(t, webUILogin) }

func webUILogin(t *testing.T, open func(base string) page) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	tokenFile := filepath.Join(work, "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	col := harness.StartCollector(t, binDir, work, data, "--http-token-file", tokenFile)
	agentPipe(t, col.XSub, "shop", "INFO paid\n")
	waitStored(t, data, 1)
	base := "http://" + col.HTTP
	b := open(base)
	b.navigate(base + "/")
	b.until("asked for the token", `!document.querySelector('#login').hidden && document.querySelector('#overview').hidden`)
	b.setValue("#token", "wrong")
	b.click(`#login button`)
	b.until("asked again", `!document.querySelector('#login').hidden`)
	b.setValue("#token", "s3cret-token")
	b.click(`#login button`)
	b.until("the overview shown", `document.querySelector('#login').hidden && [...document.querySelectorAll('#services a')].some(a => a.textContent === 'shop')`)
	b.screenshot("login")
}

// TestWebUIPagingGapsAndMissed: paging through 250 events of one
// nanosecond lists each once and ends (until is inclusive, so a page
// boundary inside such a run used to repeat the same 100 forever); a
// chart never bridges a bucket without events (a count drops to 0, an
// average breaks its line); and live tail says so when a stream's events
// were neither received live nor stored.
func TestWebUIPagingGapsAndMissed(t *testing.T) { eachBrowser(t, webUIPagingGapsAndMissed) }

func webUIPagingGapsAndMissed(t *testing.T, open func(base string) page) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data)
	now := time.Now().UTC()
	var lines strings.Builder
	at := now.Add(-30 * time.Minute).Format(time.RFC3339Nano)
	for i := 0; i < 250; i++ {
		fmt.Fprintf(&lines, `{"time":%q,"level":"info","msg":"tick %d"}`+"\n", at, i)
	}
	agentPipe(t, col.XSub, "same", lines.String())
	lines.Reset()
	for _, ago := range []int{20, 10, 10, 2} { // minutes: gaps before 10 and before 2
		fmt.Fprintf(&lines, `{"time":%q,"level":"info","msg":"step","ms":%d}`+"\n", now.Add(-time.Duration(ago)*time.Minute).Format(time.RFC3339Nano), ago)
	}
	agentPipe(t, col.XSub, "gaps", lines.String())
	waitStored(t, data, 254)
	base := "http://" + col.HTTP
	b := open(base)

	b.navigate(base + "/?q=service:same&range=1h")
	b.until("the first page", countIs(250))
	for _, n := range []int{200, 250} {
		b.click("#older")
		b.until(fmt.Sprintf("%d listed", n), fmt.Sprintf(`document.querySelectorAll('#events > li').length === %d`, n))
	}
	b.until("no more pages", `document.querySelector('#older').hidden`)
	distinct := eval[int](b, `new Set([...document.querySelectorAll('#events > li .msg')].map(e => e.textContent)).size`)
	if distinct != 250 {
		t.Errorf("%d distinct events listed, want 250", distinct)
	}

	search(b, "service:gaps | stats by (_time:1m) count() as n")
	b.until("a count chart", `document.querySelector('#chart svg polyline') !== null`)
	if got := eval[[]string](b, `[...document.querySelectorAll('#chart circle title')].map(e => e.textContent.replace(/^\S+ /, ''))`); strings.Join(got, ",") != "n: 1,n: 0,n: 0,n: 2,n: 0,n: 0,n: 1" {
		t.Errorf("count chart's points %q: want each gap drawn as 0 on both sides", got)
	}
	search(b, "service:gaps | stats by (_time:1m) avg(ms)")
	b.until("an average chart", `document.querySelector('#chart svg polyline') !== null`)
	if n := eval[int](b, `document.querySelectorAll('#chart polyline').length`); n != 3 {
		t.Errorf("average chart in %d lines, want 3 (broken at both gaps)", n)
	}

	// A stream whose events 3..9 its publisher no longer held (dropped and
	// counted there): the follower finds them neither live nor stored.
	pub := rawPublisher(t, col.XSub)
	send := func(seq uint64) {
		frames, err := schema.Encode(nil, &schema.Event{Time: time.Now(), Service: "holes", Level: schema.LevelInfo,
			Message: fmt.Sprintf("event %d", seq), Publisher: "raw-1", Seq: seq})
		if err != nil {
			t.Fatal(err)
		}
		schema.SetPrev(frames, 0)
		if _, err := pub.SendMessage(frames); err != nil {
			t.Fatal(err)
		}
	}
	harness.Eventually(t, 15*time.Second, "the first events stored", func() (bool, string) {
		send(1) // again until stored: the collector keeps each seq once
		send(2)
		r := harness.Logq(t, binDir, "search", "--data", data, "--count", "service:holes")
		return strings.TrimSpace(r.Stdout) == "2", r.Stdout
	})
	b.navigate(base + "/?q=service:holes&range=1h&live=1")
	b.until("following", `document.querySelector('#live-note').textContent.startsWith('live') && document.querySelectorAll('#events > li').length === 2`)
	send(10)
	b.until("the missed events said", `/events 3\.\.9 of publisher raw-1/.test(document.querySelector('#live-note').textContent) && document.querySelector('#events li .msg').textContent === 'event 10'`)
	b.screenshot("missed")
}

// rawPublisher is a bare ZeroMQ PUB socket connected to a collector, for
// frames no zlog publisher would send.
func rawPublisher(t *testing.T, xsub string) *zmq.Socket {
	t.Helper()
	s, err := zmq.NewSocket(zmq.PUB)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.SetLinger(0)
	if err := s.Connect(xsub); err != nil {
		t.Fatal(err)
	}
	return s
}
