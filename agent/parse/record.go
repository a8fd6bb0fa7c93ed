package parse

import (
	"strconv"
	"strings"
	"time"

	"github.com/zlog/zlog/schema"
)

// keySet names the keys of a structured record (JSON, logfmt) that carry
// an event's parts; the first key present with a readable value wins and
// is taken out of the fields.
type keySet struct {
	time, level, message, host []string
	timeFormat                 string // Go layout or unix* for the time key; "" reads the usual forms
	service                    string // key naming the service; "" for none
	// parts maps each key above (and the journal's markers) to the parts
	// it may carry, so a record's members are looked up once each instead
	// of every key being looked for in every record.
	parts map[string]uint8
}

// The parts a record key may carry, as bits of keySet.parts.
const (
	partTime uint8 = 1 << iota
	partLevel
	partMessage
	partHost
	partService
	partJournal // a journald marker: the record is a journal entry
)

// journalMarkers are keys only journal entries (journalctl -o json) have.
var journalMarkers = []string{"__REALTIME_TIMESTAMP", "__CURSOR", "_BOOT_ID"}

// indexed returns ks with parts filled in.
func (ks keySet) indexed() keySet {
	ks.parts = map[string]uint8{}
	for part, keys := range map[uint8][]string{partTime: ks.time, partLevel: ks.level, partMessage: ks.message,
		partHost: ks.host, partService: {ks.service}, partJournal: journalMarkers} {
		for _, k := range keys {
			if k != "" {
				ks.parts[k] |= part
			}
		}
	}
	return ks
}

var recordKeys = keySet{
	time:    []string{"time", "ts", "@timestamp", "timestamp", "@t", "__REALTIME_TIMESTAMP"},
	level:   levelKeys,
	message: []string{"msg", "message", "MESSAGE", "@m"},
	host:    []string{"host", "hostname", "host.name", "_HOSTNAME"},
}.indexed()

var levelKeys = []string{"level", "lvl", "severity", "loglevel", "log.level", "levelname", "@l", "PRIORITY"}

// candidates are the keys of one part present in a record, as bits by
// their rank in the part's key list.
func candidates(f schema.Fields, ks *keySet) (time, level, message, host uint64, service, journal bool) {
	for k := range f {
		parts := ks.parts[k]
		if parts == 0 {
			continue
		}
		time |= rankBit(parts&partTime != 0, ks.time, k)
		level |= rankBit(parts&partLevel != 0, ks.level, k)
		message |= rankBit(parts&partMessage != 0, ks.message, k)
		host |= rankBit(parts&partHost != 0, ks.host, k)
		service = service || parts&partService != 0
		journal = journal || parts&partJournal != 0
	}
	return
}

func rankBit(in bool, keys []string, k string) uint64 {
	if !in {
		return 0
	}
	for i, key := range keys[:min(len(keys), 64)] {
		if key == k {
			return 1 << i
		}
	}
	return 0
}

// byRank calls take for each key whose bit is set, best rank first, until
// take accepts one.
func byRank(bits uint64, keys []string, take func(k string) bool) {
	for i := 0; bits != 0; i, bits = i+1, bits>>1 {
		if bits&1 != 0 && take(keys[i]) {
			return
		}
	}
}

// takeRecord moves the record's time, level, message and host out of its
// fields into the result.
func (p *Parser) takeRecord(r *Result, keys *keySet) {
	f := r.Fields
	times, levels, messages, hosts, service, journal := candidates(f, keys)
	byRank(times, keys.time, func(k string) bool {
		t, ok := p.recordTime(f[k], keys.timeFormat)
		if ok {
			r.Time = t
			delete(f, k)
		}
		return ok
	})
	byRank(levels, keys.level, func(k string) bool {
		l, ok := levelValue(f[k])
		if ok {
			r.Level = l
			delete(f, k)
		}
		return ok
	})
	byRank(messages, keys.message, func(k string) bool {
		r.Message = schema.FormatValue(f[k])
		delete(f, k)
		return true
	})
	byRank(hosts, keys.host, func(k string) bool {
		v, ok := f[k].(string)
		if ok = ok && v != "" && len(v) <= schema.MaxHostLen; ok {
			r.Host = v
			delete(f, k)
		}
		return ok
	})
	if v, ok := f[keys.service].(string); service && ok && v != "" {
		delete(f, keys.service)
		r.setService(v)
	} else if journal {
		r.setService(journalService(f))
	}
	if len(f) == 0 {
		r.Fields = nil
	}
}

// recordTime reads a time value by the rule's layout when there is one
// (falling back to the usual forms when it does not fit).
func (p *Parser) recordTime(v any, layout string) (time.Time, bool) {
	if layout != "" && layout != "rfc3339" {
		if t, ok := layoutTime(v, layout, p.o.Location); ok {
			return t, true
		}
	}
	return timeValue(v, p.o.Location)
}

func layoutTime(v any, layout string, loc *time.Location) (time.Time, bool) {
	var n float64
	switch v := v.(type) {
	case int64:
		n = float64(v)
	case float64:
		n = v
	case string:
		if !strings.HasPrefix(layout, "unix") {
			t, err := time.ParseInLocation(layout, v, loc)
			return t, err == nil
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return time.Time{}, false
		}
		n = f
	}
	switch layout {
	case "unix":
		sec := int64(n)
		return time.Unix(sec, int64((n-float64(sec))*1e9)), true
	case "unix_ms":
		return time.UnixMicro(int64(n * 1e3)), true
	case "unix_us":
		return time.UnixMicro(int64(n)), true
	case "unix_ns":
		return time.Unix(0, int64(n)), true
	}
	return time.Time{}, false
}

// journalService names the program of a journal entry: the unit for a
// service (whose stdout shows up under the interpreter's name otherwise),
// else the syslog identifier (kernel, sudo, a script using logger), else
// the command.
func journalService(f schema.Fields) string {
	unit, _ := f["_SYSTEMD_UNIT"].(string)
	if name, ok := strings.CutSuffix(unit, ".service"); ok && name != "" {
		return name
	}
	for _, k := range []string{"SYSLOG_IDENTIFIER", "_COMM"} {
		if v, ok := f[k].(string); ok && v != "" {
			return v
		}
	}
	return unit
}
