package sidecar

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/zlog/zlog/agent/parse"
	"github.com/zlog/zlog/agent/publisher"
)

// Journal selects what a journal source reads of systemd's journal. The
// agent runs journalctl (systemd's own reader: it knows every journal
// file version, compression and rotation) and reads its JSON output.
type Journal struct {
	Directory string   // a journal directory (--directory); "" for the system journal
	Files     []string // journal files (--file), instead of a directory
	Matches   []string // journalctl matches, e.g. _SYSTEMD_UNIT=nginx.service (ANDed unless "+" separates them)
	Command   string   // the journalctl binary; "journalctl"
}

// validJournalMatch accepts what journalctl takes as a match: FIELD=VALUE
// with an upper-case field name, or "+" (OR between groups).
func validJournalMatch(m string) bool {
	if m == "+" {
		return true
	}
	field, _, ok := strings.Cut(m, "=")
	if !ok || field == "" {
		return false
	}
	for _, c := range field {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// ValidateMatches checks journal matches.
func (j *Journal) ValidateMatches() error {
	for _, m := range j.Matches {
		if !validJournalMatch(m) {
			return fmt.Errorf("journal match %q: want FIELD=VALUE (upper-case field) or +", m)
		}
	}
	return nil
}

// journalKeyPrefix starts the positions and spool key of a journal source.
const journalKeyPrefix = "journal:"

// key names the journal source's cursor in the spool and positions file.
func (j *Journal) key() string {
	switch {
	case j.Directory != "":
		return journalKeyPrefix + j.Directory
	case len(j.Files) > 0:
		return journalKeyPrefix + strings.Join(j.Files, ",")
	}
	return journalKeyPrefix + "system"
}

// journalSource follows the journal from its cursor: each entry's
// __CURSOR is checkpointed exactly as a file position is (in the spool
// record of the event, and in the positions file once acknowledged), and
// journalctl resumes after it.
type journalSource struct {
	a        *Agent
	src      *Source
	parser   *parse.Parser
	key      string
	cursor   string // of the last entry read: where a restarted journalctl resumes
	fromHead bool   // without a cursor: read the whole journal (else from now)
	restarts atomic.Uint64
}

func (j *journalSource) Close() error { return nil }

func (a *Agent) newJournal(src *Source) *journalSource {
	limit := journalLineBytes(a.opts.MaxLineBytes)
	parser := parse.New(parse.Options{MaxLineBytes: limit, Format: parse.JSON, Location: src.Location, Rule: src.Rule})
	return &journalSource{a: a, src: src, parser: parser, key: src.Journal.key()}
}

// resumeJournal finds where the journal source was left: the spool's
// cursor (after the last entry spooled; the spool resends the rest), else
// the acknowledged one from the positions file. With neither it starts
// from now, or from the journal's start with --from-beginning.
func (a *Agent) resumeJournal(j *journalSource) {
	raw, ok := a.pub.Cursors()[j.key]
	if !ok {
		raw, ok = a.positions.Acked()[j.key]
	}
	if ok {
		if err := json.Unmarshal(raw, &j.cursor); err != nil {
			a.logger.Warn("journal cursor unreadable; starting from now", "source", j.key, "err", err)
		}
	}
	j.fromHead = j.cursor == "" && a.opts.FromBeginning
}

// journalLineBytes lets a journal entry's JSON be larger than the message
// limit: the entry must stay whole to be parsed and checkpointed; its
// message is cut to the limit afterwards.
func journalLineBytes(maxLine int) int { return 4*maxLine + 64<<10 }

// Run follows the journal until ctx ends; journalctl is started again,
// after the last cursor, if it stops.
func (j *journalSource) Run(ctx context.Context) error {
	backoff := time.Second
	for {
		started := time.Now()
		err := j.follow(ctx)
		if ctx.Err() != nil {
			return nil
		}
		j.restarts.Add(1)
		j.a.logger.Warn("journalctl stopped; starting it again", "source", j.key, "err", err, "in", backoff)
		if time.Since(started) > time.Minute {
			backoff = time.Second
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

func (j *journalSource) args() []string {
	jo := j.src.Journal
	args := []string{"--follow", "--output=json", "--all", "--no-pager", "--quiet"}
	if jo.Directory != "" {
		args = append(args, "--directory="+jo.Directory)
	}
	for _, f := range jo.Files {
		args = append(args, "--file="+f)
	}
	switch {
	case j.cursor != "":
		args = append(args, "--after-cursor="+j.cursor, "--lines=all")
	case j.fromHead:
		args = append(args, "--lines=all")
	default:
		args = append(args, "--lines=0")
	}
	return append(args, jo.Matches...)
}

// follow runs journalctl once and publishes what it prints.
func (j *journalSource) follow(ctx context.Context) error {
	command := j.src.Journal.Command
	if command == "" {
		command = "journalctl"
	}
	cmd := exec.CommandContext(ctx, command, j.args()...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", command, err)
	}
	limit := journalLineBytes(j.a.opts.MaxLineBytes)
	readErr := scanLines(ctx, out, limit, func(line []byte, total int) { j.publish(ctx, line, total) })
	waitErr := cmd.Wait()
	if ctx.Err() != nil {
		return nil
	}
	if msg := strings.TrimSpace(stderr.String()); msg != "" {
		return fmt.Errorf("%s: %v: %s", command, waitErr, msg)
	}
	if readErr != nil {
		return readErr
	}
	return fmt.Errorf("%s ended: %v", command, waitErr)
}

// publish sends one journal entry with its cursor as the checkpoint. An
// entry too long to read whole cannot be checkpointed; it is published
// as text, cut, like any over-long line.
func (j *journalSource) publish(ctx context.Context, line []byte, total int) {
	j.a.Lines.Add(1)
	res := j.parser.Line(line)
	cursor, _ := res.Fields["__CURSOR"].(string)
	if res.Fields == nil {
		res.Fields = map[string]any{}
	}
	if max := j.a.opts.MaxLineBytes; len(res.Message) > max {
		n := len(res.Message)
		res.Message = strings.ToValidUTF8(res.Message[:max], "")
		res.Truncated = true
		res.Fields["truncated"] = int64(n)
	}
	if res.Truncated && total > len(line) {
		res.Fields["truncated"] = int64(total)
	}
	m := publisher.Mark{}
	if cursor != "" {
		delete(res.Fields, "__CURSOR") // the checkpoint, not the entry's content
		raw, _ := json.Marshal(cursor)
		m = publisher.Mark{Key: j.key, Cursor: raw, Acked: j.a.positions.Track(j.key, raw)}
		j.cursor = cursor
	}
	j.a.publishResult(ctx, j.src, res, j.src.Labels, m)
}
