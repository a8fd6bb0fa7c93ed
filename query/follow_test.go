package query

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/zlog/zlog/collector/index"

	"github.com/zlog/zlog/schema"
)

// fakeLive plays a script: each step may store events in the index first
// (as the collector commits them), then yields its live events.
type fakeLive struct {
	t      *testing.T
	w      *index.Writer
	steps  []liveStep
	cancel func()
	idle   int // Recv calls with nothing left, before cancelling
}

type liveStep struct {
	store []schema.Event
	live  []schema.Event
}

func (f *fakeLive) Recv(wait time.Duration) (schema.Event, bool, error) {
	for len(f.steps) > 0 {
		st := &f.steps[0]
		if st.store != nil {
			if err := f.w.Write(context.Background(), st.store); err != nil {
				f.t.Fatal(err)
			}
			st.store = nil
		}
		if len(st.live) > 0 {
			ev := st.live[0]
			st.live = st.live[1:]
			return ev, true, nil
		}
		f.steps = f.steps[1:]
	}
	// Nothing more live: give the settle passes time, then stop.
	time.Sleep(wait)
	if f.idle++; f.idle*int(wait/time.Millisecond) > 1500 {
		f.cancel()
	}
	return schema.Event{}, false, nil
}

func seqEvents(pub, svc string, from, to int, base time.Time) []schema.Event {
	var out []schema.Event
	for i := from; i <= to; i++ {
		msg := fmt.Sprintf("%s event %d", svc, i)
		if i%10 == 0 {
			msg += " tenth"
		}
		out = append(out, schema.Event{Time: base.Add(time.Duration(i) * time.Millisecond), Service: svc, Level: schema.LevelInfo,
			Host: "h", Message: msg, Publisher: pub, Seq: uint64(i)})
	}
	return out
}

// The seam: duplicates of indexed events are skipped, a gap in the live
// sequence is filled from the index, a stream that goes quiet after the
// switch is settled from the index, and words match live events the way
// FTS5 matches stored ones.
func TestFollowSeam(t *testing.T) {
	for _, tc := range []struct {
		name  string
		words []string
		want  func(i int) bool
	}{
		{"all", nil, func(int) bool { return true }},
		{"word", []string{"TENTH"}, func(i int) bool { return i%10 == 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "index")
			w, err := index.New(index.Options{Dir: dir}, slog.New(slog.DiscardHandler), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			base := time.Now().Add(-time.Minute)
			a := func(from, to int) []schema.Event { return seqEvents("pa", "svc", from, to, base) }
			b := func(from, to int) []schema.Event { return seqEvents("pb", "quiet", from, to, base) }
			if err := w.Write(context.Background(), append(a(1, 100), b(1, 20)...)); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			live := &fakeLive{t: t, w: w, cancel: cancel, steps: []liveStep{
				// Live repeats what the index printed, then skips 101..110
				// (a full queue) while the collector stores them.
				{live: a(95, 100)},
				{store: a(101, 150), live: a(111, 150)},
				// The quiet stream's 21..30 were forwarded before the
				// subscription took effect and stored after the search.
				{store: b(21, 30)},
			}}
			var got []schema.Event
			s, _ := NewSearcher(dir)
			q := Query{Words: tc.words, Since: base.Add(-time.Hour)}
			if err := s.Follow(ctx, q, live, func(ev *schema.Event) error { got = append(got, *ev); return nil }, FollowOptions{FillWait: time.Second}); err != nil {
				t.Fatal(err)
			}
			seen := map[string]int{}
			for _, ev := range got {
				seen[ev.Message]++
			}
			check := func(svc string, n int) {
				for i := 1; i <= n; i++ {
					msg := fmt.Sprintf("%s event %d", svc, i)
					if i%10 == 0 {
						msg += " tenth"
					}
					if want := map[bool]int{true: 1}[tc.want(i)]; seen[msg] != want {
						t.Errorf("%q printed %d times, want %d", msg, seen[msg], want)
					}
				}
			}
			check("svc", 150)
			check("quiet", 30)
		})
	}
}
