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
}

var recordKeys = keySet{
	time:    []string{"time", "ts", "@timestamp", "timestamp", "@t", "__REALTIME_TIMESTAMP"},
	level:   levelKeys,
	message: []string{"msg", "message", "MESSAGE", "@m"},
	host:    []string{"host", "hostname", "host.name", "_HOSTNAME"},
}

var levelKeys = []string{"level", "lvl", "severity", "loglevel", "log.level", "levelname", "@l", "PRIORITY"}

// takeRecord moves the record's time, level, message and host out of its
// fields into the result.
func (p *Parser) takeRecord(r *Result, keys keySet) {
	f := r.Fields
	journal := f["__REALTIME_TIMESTAMP"] != nil || f["__CURSOR"] != nil || f["_BOOT_ID"] != nil
	for _, k := range keys.time {
		if v, ok := f[k]; ok {
			if t, ok := p.recordTime(v, keys.timeFormat); ok {
				r.Time = t
				delete(f, k)
				break
			}
		}
	}
	for _, k := range keys.level {
		if v, ok := f[k]; ok {
			if l, ok := levelValue(v); ok {
				r.Level = l
				delete(f, k)
				break
			}
		}
	}
	for _, k := range keys.message {
		if v, ok := f[k]; ok {
			r.Message = schema.FormatValue(v)
			delete(f, k)
			break
		}
	}
	for _, k := range keys.host {
		if v, ok := f[k].(string); ok && v != "" && len(v) <= schema.MaxHostLen {
			r.Host = v
			delete(f, k)
			break
		}
	}
	if v, ok := f[keys.service].(string); ok && v != "" {
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
