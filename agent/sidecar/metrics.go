package sidecar

import (
	"fmt"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Collectors exposes the agent's counters as Prometheus metrics.
func (a *Agent) Collectors() []prometheus.Collector {
	counter := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f)
	}
	syslogStat := func(i int) func() float64 {
		return func() float64 {
			f, inv, tl := a.SyslogStats()
			return float64([]uint64{f, inv, tl}[i])
		}
	}
	tailStat := func(i int) func() float64 {
		return func() float64 { return float64(a.TailStats()[i]) }
	}
	var intakes []prometheus.Collector
	for _, s := range a.intakes {
		intakes = append(intakes, s.Collectors()...)
	}
	return append(intakes,
		counter("zlog_agent_lines_total", "Lines read from files and stdin (after multiline joining: events).", func() float64 { return float64(a.Lines.Load()) }),
		counter("zlog_agent_truncated_total", "Lines cut at --max-line-bytes (the event carries truncated=<length>).", func() float64 { return float64(a.Truncated.Load()) }),
		counter("zlog_agent_invalid_utf8_total", "Lines and syslog messages whose invalid UTF-8 was replaced with U+FFFD.", func() float64 { return float64(a.InvalidUTF8.Load()) }),
		counter("zlog_agent_publish_errors_total", "Events the publisher refused (see zlog_publisher_dropped_total).", func() float64 { return float64(a.PublishErrors.Load()) }),
		counter("zlog_agent_container_undecodable_total", "Lines of a docker or cri source that were not records of the format (published as they are).", func() float64 { return float64(a.Undecodable.Load()) }),
		counter("zlog_agent_syslog_udp_kernel_drops_total", "Datagrams the kernel dropped for the syslog UDP listeners because their receive buffer was full (/proc/net/udp).", func() float64 { return float64(a.UDPKernelDrops()) }),
		counter("zlog_agent_syslog_messages_total", "Syslog messages received and parsed.", syslogStat(0)),
		counter("zlog_agent_syslog_invalid_total", "Syslog messages skipped as unparseable.", syslogStat(1)),
		counter("zlog_agent_syslog_too_long_total", "Syslog frames skipped as longer than --max-line-bytes.", syslogStat(2)),
		counter("zlog_agent_files_opened_total", "Files opened for following.", tailStat(0)),
		counter("zlog_agent_file_renames_total", "Rotations by rename seen (the old file is read to its end).", tailStat(1)),
		counter("zlog_agent_file_truncations_total", "Truncations seen (copytruncate or > file).", tailStat(2)),
		counter("zlog_agent_file_copies_found_total", "Copies found after copytruncate, read from where reading stood.", tailStat(3)),
		counter("zlog_agent_file_lost_bytes_total", "Bytes known lost: a truncated file's unread part with no copy found.", tailStat(4)),
		counter("zlog_agent_file_open_errors_total", "Failed attempts to open a matched file (e.g. permission denied); retried every poll.", tailStat(5)),
		counter("zlog_agent_file_read_errors_total", "Failed reads of followed files.", tailStat(6)),
		counter("zlog_agent_file_generations_total", "Rotated files read whole because they were rotated before they were read (several rotations while the agent was stopped, or between two looks).", tailStat(7)),
		counter("zlog_agent_file_lost_files_total", "Files of the last run that could not be found again (their unread end, if any, is lost).", tailStat(8)),
	)
}

// Summary is the final tally as slog attributes.
func (a *Agent) Summary() []any {
	frames, invalid, tooLong := a.SyslogStats()
	t := a.TailStats()
	return []any{"lines", a.Lines.Load(), "truncated", a.Truncated.Load(), "invalid_utf8", a.InvalidUTF8.Load(),
		"publish_errors", a.PublishErrors.Load(), "container_undecodable", a.Undecodable.Load(),
		"udp_kernel_drops", a.UDPKernelDrops(), "syslog_messages", frames, "syslog_invalid", invalid, "syslog_too_long", tooLong,
		"files", t[0], "rotations", t[1] + t[2], "generations", t[7], "file_open_errors", t[5], "file_read_errors", t[6],
		"file_lost_bytes", t[4], "file_lost_files", t[8]}
}

// TailStats sums the file tailers' counters: files, renamed, truncated,
// copies found, lost bytes, open errors, read errors, generations, lost files.
func (a *Agent) TailStats() [9]uint64 {
	var out [9]uint64
	for _, src := range a.sources {
		fs, ok := src.(*fileSource)
		if !ok {
			continue
		}
		s := &fs.tailer.Stats
		for i, c := range []*atomic.Uint64{&s.Files, &s.Renamed, &s.Truncated, &s.CopiesFound, &s.LostBytes, &s.OpenErrors, &s.ReadErrors, &s.Generations, &s.LostFiles} {
			out[i] += c.Load()
		}
	}
	return out
}

// Losses reports what the agent knows it lost: datagrams the kernel
// dropped, the unread end of truncated or vanished files. nil when nothing.
func (a *Agent) Losses() error {
	t := a.TailStats()
	drops := a.UDPKernelDrops()
	if drops == 0 && t[4] == 0 && t[8] == 0 {
		return nil
	}
	return fmt.Errorf("lost %d syslog datagrams in the kernel, %d bytes of truncated files, %d files not found again", drops, t[4], t[8])
}

// UDPKernelDrops sums the kernel's drop counters of the UDP listeners.
func (a *Agent) UDPKernelDrops() uint64 {
	var total uint64
	for _, src := range a.sources {
		if s, ok := src.(*syslogSource); ok {
			n, err := s.server.KernelDrops()
			if err != nil {
				a.logger.Debug("udp kernel drops unreadable", "listen", s.server.Addr, "err", err)
			}
			total += n
		}
	}
	return total
}

// SyslogStats sums the listeners' counters: messages, unparseable, oversized.
func (a *Agent) SyslogStats() (frames, invalid, tooLong uint64) {
	for _, src := range a.sources {
		s, ok := src.(*syslogSource)
		if !ok {
			continue
		}
		frames += s.server.Frames.Load()
		invalid += s.server.Invalid.Load()
		tooLong += s.server.TooLong.Load()
	}
	return
}
