package tests

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"
)

// page is a browser tab as the web tests drive it: the same scenario runs
// in headless Chromium (chromedp over the DevTools protocol) and headless
// Firefox (WebDriver BiDi), both Debian's, which make deps installs.
type page interface {
	navigate(url string)
	click(css string)
	setValue(css, value string)
	drag(x1, y1, x2, y2 float64)
	until(what, js string)
	evalJSON(js string, out any) // out gets JSON.stringify(js)
	screenshot(name string)
}

// eachBrowser runs scenario once per browser, as subtests.
func eachBrowser(t *testing.T, scenario func(t *testing.T, open func(base string) page)) {
	t.Run("chromium", func(t *testing.T) {
		scenario(t, func(base string) page { return newChromium(t, base, t.ArtifactDir()) })
	})
	t.Run("firefox", func(t *testing.T) {
		scenario(t, func(base string) page { return newFirefox(t, base, t.ArtifactDir()) })
	})
}

// eval is the value of a JavaScript expression.
func eval[T any](p page, js string) T {
	var v T
	p.evalJSON(js, &v)
	return v
}

// chromium drives headless Chromium with chromedp.
type chromium struct {
	t   *testing.T
	ctx context.Context
	dir string
}

func newChromium(t *testing.T, base, dir string) *chromium {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		t.Fatal("no Chromium: make deps installs Debian's chromium")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 860), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &chromium{t: t, ctx: ctx, dir: dir}
}

// do runs chromedp actions, failing the test with what was being done
// and what the page said.
func (b *chromium) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		text, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body.innerText.slice(0, 2000)`))
		b.t.Fatalf("%s: %v\npage:\n%s", what, err, text)
	}
}

func (b *chromium) navigate(url string) { b.t.Helper(); b.do("open "+url, chromedp.Navigate(url)) }
func (b *chromium) click(css string) {
	b.t.Helper()
	b.do("click "+css, chromedp.Click(chromedp.CSS(css)))
}

func (b *chromium) setValue(css, value string) {
	b.t.Helper()
	b.do("type into "+css, chromedp.SetValue(chromedp.CSS(css), value))
}

func (b *chromium) drag(x1, y1, x2, y2 float64) {
	b.t.Helper()
	b.do("drag", chromedp.DragAndDropXY(x1, y1, x2, y2))
}

func (b *chromium) until(what, js string) {
	b.t.Helper()
	b.do(what, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(20*time.Second)))
}

func (b *chromium) evalJSON(js string, out any) {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`JSON.stringify(`+js+`)`))
	if err == nil {
		err = json.Unmarshal([]byte(s), out)
	}
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
}

func (b *chromium) screenshot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err == nil {
		err = os.WriteFile(filepath.Join(b.dir, name+".png"), png, 0o644)
	}
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
}

// firefox drives headless Firefox over WebDriver BiDi, the W3C protocol
// Firefox speaks natively (no geckodriver, which Debian does not ship).
type firefox struct {
	t       *testing.T
	ctx     context.Context
	conn    *websocket.Conn
	id      atomic.Int64
	browser string // the browsing context (tab)
	dir     string
}

// bidiListening is the line Firefox prints once its BiDi server is up.
var bidiListening = regexp.MustCompile(`WebDriver BiDi listening on (ws://\S+)`)

func newFirefox(t *testing.T, base, dir string) *firefox {
	t.Helper()
	path := ""
	for _, name := range []string{"firefox-esr", "firefox"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		t.Fatal("no Firefox: make deps installs Debian's firefox-esr")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	cmd := exec.CommandContext(ctx, path, "--headless", "--no-remote", "--profile", t.TempDir(), "--remote-debugging-port=0", "about:blank")
	cmd.Env = append(os.Environ(), "MOZ_CRASHREPORTER_DISABLE=1")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start firefox: %v", err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	endpoint := make(chan string, 1)
	go func() { // the first lines say where BiDi listens; the rest is drained
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := bidiListening.FindStringSubmatch(sc.Text()); m != nil {
				endpoint <- m[1]
			}
		}
	}()
	var url string
	select {
	case url = <-endpoint:
	case <-time.After(60 * time.Second):
		t.Fatal("firefox did not start its WebDriver BiDi server within 60s")
	}
	conn, _, err := websocket.Dial(ctx, url+"/session", nil)
	if err != nil {
		t.Fatalf("connect to firefox: %v", err)
	}
	conn.SetReadLimit(64 << 20) // screenshots
	t.Cleanup(func() { conn.CloseNow() })
	f := &firefox{t: t, ctx: ctx, conn: conn, dir: dir}
	f.call("session.new", map[string]any{"capabilities": map[string]any{}}, nil)
	var tree struct {
		Contexts []struct{ Context string } `json:"contexts"`
	}
	f.call("browsingContext.getTree", map[string]any{}, &tree)
	if len(tree.Contexts) == 0 {
		t.Fatal("firefox has no tab")
	}
	f.browser = tree.Contexts[0].Context
	f.call("browsingContext.setViewport", map[string]any{"context": f.browser,
		"viewport": map[string]any{"width": 1280, "height": 860}}, nil)
	return f
}

// call sends one BiDi command and decodes its result into out (if not
// nil), skipping the events that come between.
func (f *firefox) call(method string, params any, out any) {
	f.t.Helper()
	id := f.id.Add(1)
	msg, _ := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	if err := f.conn.Write(f.ctx, websocket.MessageText, msg); err != nil {
		f.t.Fatalf("%s: %v", method, err)
	}
	for {
		_, data, err := f.conn.Read(f.ctx)
		if err != nil {
			f.t.Fatalf("%s: %v", method, err)
		}
		var reply struct {
			Type    string          `json:"type"`
			ID      int64           `json:"id"`
			Error   string          `json:"error"`
			Message string          `json:"message"`
			Result  json.RawMessage `json:"result"`
		}
		if err := json.Unmarshal(data, &reply); err != nil {
			f.t.Fatalf("%s: reply %q: %v", method, data, err)
		}
		if reply.Type == "event" || reply.ID != id {
			continue
		}
		if reply.Type == "error" {
			f.t.Fatalf("%s: %s: %s", method, reply.Error, reply.Message)
		}
		if out != nil {
			if err := json.Unmarshal(reply.Result, out); err != nil {
				f.t.Fatalf("%s: result %s: %v", method, reply.Result, err)
			}
		}
		return
	}
}

// evaluate runs js in the tab (awaiting a promise) and returns
// JSON.stringify of its value, or the exception's text.
func (f *firefox) evaluate(js string) (string, error) {
	f.t.Helper()
	var res struct {
		Type   string `json:"type"`
		Result struct {
			Value string `json:"value"`
		} `json:"result"`
		ExceptionDetails struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	f.call("script.evaluate", map[string]any{"expression": `(async () => JSON.stringify(await (` + js + `)) ?? "null")()`,
		"target": map[string]any{"context": f.browser}, "awaitPromise": true}, &res)
	if res.Type == "exception" {
		return "", fmt.Errorf("%s", res.ExceptionDetails.Text)
	}
	return res.Result.Value, nil
}

func (f *firefox) evalJSON(js string, out any) {
	f.t.Helper()
	s, err := f.evaluate(js)
	if err == nil {
		err = json.Unmarshal([]byte(s), out)
	}
	if err != nil {
		f.t.Fatalf("evaluate %s: %v", js, err)
	}
}

func (f *firefox) navigate(url string) {
	f.t.Helper()
	f.call("browsingContext.navigate", map[string]any{"context": f.browser, "url": url, "wait": "complete"}, nil)
}

// until polls a JavaScript condition, as chromedp.Poll does.
func (f *firefox) until(what, js string) {
	f.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s, err := f.evaluate(`!!(` + js + `)`)
		if err == nil && s == "true" {
			return
		}
		if time.Now().After(deadline) {
			text, _ := f.evaluate(`document.body.innerText.slice(0, 2000)`)
			f.t.Fatalf("%s: not within 20s (last: %s, %v)\npage:\n%s", what, s, err, text)
		}
		time.Sleep(50 * time.Millisecond) // polling the condition
	}
}

// click moves the mouse to the middle of the element and clicks there,
// as a user does (real input events, not element.click()).
func (f *firefox) click(css string) {
	f.t.Helper()
	f.until("visible: "+css, fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return false; const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0; })()`, css))
	var at []float64
	f.evalJSON(fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.scrollIntoView({block: "center"}); const r = e.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; })()`, css), &at)
	f.pointer([]map[string]any{move(at[0], at[1], 0), {"type": "pointerDown", "button": 0}, {"type": "pointerUp", "button": 0}})
}

func (f *firefox) drag(x1, y1, x2, y2 float64) {
	f.t.Helper()
	f.pointer([]map[string]any{move(x1, y1, 0), {"type": "pointerDown", "button": 0}, move(x2, y2, 100), {"type": "pointerUp", "button": 0}})
}

func move(x, y float64, ms int) map[string]any {
	return map[string]any{"type": "pointerMove", "x": int(x), "y": int(y), "duration": ms}
}

func (f *firefox) pointer(actions []map[string]any) {
	f.t.Helper()
	f.call("input.performActions", map[string]any{"context": f.browser, "actions": []any{map[string]any{
		"type": "pointer", "id": "mouse", "parameters": map[string]any{"pointerType": "mouse"}, "actions": actions}}}, nil)
}

// setValue sets an input's value, as chromedp.SetValue does.
func (f *firefox) setValue(css, value string) {
	f.t.Helper()
	q, _ := json.Marshal(value)
	f.evalJSON(fmt.Sprintf(`(() => { document.querySelector(%q).value = %s; return true; })()`, css, q), new(bool))
}

func (f *firefox) screenshot(name string) {
	f.t.Helper()
	var shot struct {
		Data string `json:"data"`
	}
	f.call("browsingContext.captureScreenshot", map[string]any{"context": f.browser, "origin": "document"}, &shot)
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	if err == nil {
		err = os.WriteFile(filepath.Join(f.dir, name+".png"), png, 0o644)
	}
	if err != nil {
		f.t.Fatalf("screenshot %s: %v", name, err)
	}
}
