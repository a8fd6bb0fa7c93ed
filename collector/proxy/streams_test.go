package proxy

import (
	"testing"
	"time"

	"github.com/zlog/zlog/schema"
)

func hdr(pub, topic string, seq, prev uint64) schema.Header {
	return schema.Header{Publisher: pub, Topic: topic, Seq: seq, Prev: prev}
}

func TestStreamTableAdmit(t *testing.T) {
	const unknown = schema.PrevUnknown
	tab := newStreamTable(map[schema.Stream]uint64{{Publisher: "p", Topic: "svc.info"}: 10})
	steps := []struct {
		h       schema.Header
		want    verdict
		skipped uint64
	}{
		{hdr("p", "svc.info", 11, 10), accept, 0},
		{hdr("p", "svc.info", 11, 10), duplicate, 0},
		{hdr("p", "svc.info", 5, 4), duplicate, 0},
		{hdr("p", "svc.info", 13, 12), outOfOrder, 0}, // 12 went missing in transit
		{hdr("p", "svc.info", 12, 11), accept, 0},     // the resend, in order
		{hdr("p", "svc.info", 13, 12), accept, 0},
		// The publisher no longer holds 14..19 (a damaged spool record,
		// dropped and counted there): 20 follows 13 directly.
		{hdr("p", "svc.info", 20, 13), accept, 6},
		// Fault 1: an unknown stream starts where its publisher's held
		// events start, not at whatever arrives first.
		{hdr("q", "svc.info", 406, 405), outOfOrder, 0},
		{hdr("q", "svc.info", 1, 0), accept, 0},
		{hdr("q", "svc.info", 2, 1), accept, 0},
		// A publisher whose first held event is 500 (everything before was
		// acknowledged by a collector that lost it) is taken from there.
		{hdr("r", "svc.info", 500, 0), accept, 499},
		{hdr("r", "svc.info", 501, 500), accept, 0},
		// Wire version 1: an unknown stream resyncs, then strictly in order.
		{hdr("v1", "svc.info", 500, unknown), resync, 0},
		{hdr("v1", "svc.info", 502, unknown), outOfOrder, 0},
		{hdr("v1", "svc.info", 501, unknown), accept, 0},
		{hdr("p", "svc.info", 0, 0), unsequenced, 0},
	}
	for i, st := range steps {
		v, skipped := tab.admit(st.h)
		if v != st.want || skipped != st.skipped {
			t.Fatalf("step %d (%+v): got %v skipping %d, want %v skipping %d", i, st.h, verdictLabels[v], skipped, verdictLabels[st.want], st.skipped)
		}
	}
}

func TestStreamTableRejectNackDurable(t *testing.T) {
	tab := newStreamTable(nil)
	k := schema.Stream{Publisher: "p", Topic: "svc.info"}
	if v, _ := tab.admit(hdr("p", "svc.info", 1, 0)); v != accept {
		t.Fatal(verdictLabels[v])
	}
	tab.rejected(k, 1, "too large")
	if reason, ok := tab.rejection(k, 1); !ok || reason != "too large" {
		t.Fatalf("rejection = %q %v", reason, ok)
	}
	if _, ok := tab.durable(k); ok {
		t.Fatal("durable before any commit")
	}
	tab.committed(map[schema.Stream]uint64{k: 1})
	if hwm, ok := tab.durable(k); !ok || hwm != 1 {
		t.Fatalf("durable = %d %v", hwm, ok)
	}
	if hwm, ok := tab.nackDue(k); !ok || hwm != 1 {
		t.Fatalf("first nack = %d %v", hwm, ok)
	}
	if _, ok := tab.nackDue(k); ok {
		t.Fatal("second nack within nackEvery")
	}
	tab.now = tab.now.Add(nackEvery)
	if _, ok := tab.nackDue(k); !ok {
		t.Fatal("no nack after nackEvery")
	}
}

// Streams idle since before the cut are forgotten; active ones stay.
func TestStreamTableForget(t *testing.T) {
	old := schema.Stream{Publisher: "gone", Topic: "svc.info"}
	tab := newStreamTable(map[schema.Stream]uint64{old: 10})
	tab.now = tab.now.Add(time.Hour)
	if v, _ := tab.admit(hdr("live", "svc.info", 1, 0)); v != accept {
		t.Fatalf("got %v", v)
	}
	gone := tab.forget(tab.now.Add(-time.Minute))
	if len(gone) != 1 || gone[0] != old || tab.len() != 1 {
		t.Fatalf("forgot %v, left %d streams", gone, tab.len())
	}
	// A forgotten stream that comes back is taken from its publisher's
	// first held event, as after a restart.
	if v, _ := tab.admit(hdr("gone", "svc.info", 11, 0)); v != accept {
		t.Errorf("a forgotten stream's return: %v, want accept", verdictLabels[v])
	}
}
