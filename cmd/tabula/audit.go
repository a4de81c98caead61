package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tabularium/tabula/monitor"
)

const auditUsage = `Usage: tabula audit --log-key KEY.pem [--log-key KEY2.pem]… [--server URL] [--restart]

Re-reads every entry of every log of the server (the active one and those frozen by a rotation,
Rekor v1 and, listed by GET /logs, Rekor v2) from its tile entry bundles, recomputes the Merkle tree and every hash tile, and checks them
against the signed checkpoint and the served tiles. The position is saved in --state-dir: an
interrupted audit resumes, a finished one continues from the checkpoint it verified when the log
has grown. A frozen log whose checkpoint changes after it was audited fails the audit.`

func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit", stderr, auditUsage)
	lf := addLogFlags(fs)
	restart := fs.Bool("restart", false, "ignore the saved position and audit from index 0")
	workers := fs.Int("workers", 8, "entry bundles and tiles fetched at once")
	progress := fs.String("progress", "auto", "auto (a bar on a terminal, lines otherwise), bar, plain or none")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	mode := *progress
	if mode == "auto" {
		mode = "plain"
		if isTerminal(stderr) {
			mode = "bar"
		}
	}
	var p *progressBar
	switch mode {
	case "bar", "plain":
		p = &progressBar{w: stderr, bar: mode == "bar", start: time.Now()}
	case "none":
	default:
		fmt.Fprintln(stderr, "tabula audit: --progress must be auto, bar, plain or none")
		return errUsage
	}
	o, err := lf.open("audit", stderr)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := monitor.AuditSetConfig{Set: o.set, Verifiers: o.verifiers, StateDir: o.stateDir, LegacyState: o.legacy, Restart: *restart, Workers: *workers}
	var cur string // the log the progress bar is drawn for
	if p != nil {
		cfg.Progress = func(treeID string, done, total uint64) {
			if treeID != cur {
				if cur != "" {
					p.finish()
					p = &progressBar{w: p.w, bar: p.bar, start: time.Now()}
				}
				cur = treeID
			}
			p.update(done, total)
		}
	}
	res, err := monitor.AuditSet(ctx, cfg)
	if p != nil {
		p.finish()
	}
	if err != nil {
		return err
	}
	failed := false
	for i, r := range res.Logs {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		state := "active"
		if r.Frozen {
			state = "frozen"
		}
		if r.API == "v2" {
			state = "Rekor v2, " + state
		}
		if r.New {
			state += ", new since the last audit"
		}
		fmt.Fprintf(stdout, "Log:          %s (%s)\n", r.TreeID, state)
		if r.Err != nil {
			failed = true
			if kind, bad := monitor.IsMisbehavior(r.Err); bad {
				fmt.Fprintf(stdout, "AUDIT FAILED (%s): %v\n", kind, r.Err)
				continue
			}
			if ctx.Err() != nil {
				fmt.Fprintf(stdout, "Interrupted:  %d of %d entries audited, position saved in %s; run again to resume\n", r.From+r.Entries, r.Checkpoint.Size, o.stateDir)
				continue
			}
			fmt.Fprintf(stdout, "Not audited:  %v\n", r.Err)
			continue
		}
		printAudit(stdout, r.AuditResult)
	}
	for _, a := range res.Alerts {
		failed = true
		fmt.Fprintf(stdout, "AUDIT FAILED (%s): %s\n", a.Kind, a.Message)
	}
	switch {
	case ctx.Err() != nil:
		return errors.New("interrupted")
	case failed:
		return errors.New("the log failed the audit")
	}
	return nil
}

// printAudit prints the audit of one log that passed.
func printAudit(stdout io.Writer, res monitor.AuditResult) {
	rate := float64(res.Entries) / max(res.Duration.Seconds(), 1e-9)
	fmt.Fprintf(stdout, "Origin:       %s\n", res.Checkpoint.Origin)
	fmt.Fprintf(stdout, "Tree size:    %d\n", res.Checkpoint.Size)
	fmt.Fprintf(stdout, "Root hash:    %x\n", res.Checkpoint.Root)
	switch {
	case res.From > 0 && res.From == res.Checkpoint.Size:
		fmt.Fprintf(stdout, "Resumed at:   %d (all audited by an earlier run; the checkpoint is the same or consistent)\n", res.From)
	case res.From > 0:
		fmt.Fprintf(stdout, "Resumed at:   %d (entries before it were audited by an earlier run)\n", res.From)
	}
	fmt.Fprintf(stdout, "Entries read: %d in %s (%.0f entries/s) from %d entry bundles\n", res.Entries, res.Duration.Round(time.Millisecond), rate, res.Bundles)
	fmt.Fprintf(stdout, "Tiles:        %d hash tiles match the tree recomputed from the entries\n", res.Tiles)
	fmt.Fprintf(stdout, "Result:       OK — the entries make the root of the signed checkpoint\n")
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progressBar draws the audit's progress: a redrawn bar on a terminal, or a
// line every ten percent (and at most every five seconds) otherwise.
type progressBar struct {
	w         io.Writer
	bar       bool
	start     time.Time
	last      time.Time
	lastTenth uint64
	first     uint64 // position when the run started
	started   bool
	done      uint64
	total     uint64
	// printedAll: the plain line for done == total was written.
	printedAll bool
}

func (p *progressBar) update(done, total uint64) {
	if !p.started {
		p.first, p.started = done, true
	}
	p.done, p.total = done, total
	now := time.Now()
	if p.bar {
		if now.Sub(p.last) < 100*time.Millisecond && done != total {
			return
		}
		p.last = now
		const width = 30
		frac := 1.0
		if total > 0 {
			frac = float64(done) / float64(total)
		}
		n := int(frac * width)
		bar := strings.Repeat("=", n) + strings.Repeat(" ", width-n)
		if n < width {
			bar = bar[:n] + ">" + bar[n+1:]
		}
		fmt.Fprintf(p.w, "\r[%s] %5.1f%%  %d/%d entries%s\x1b[K", bar, 100*frac, done, total, p.rate(now))
		return
	}
	tenth := uint64(10)
	if total > 0 {
		tenth = done * 10 / total
	}
	switch {
	case done == total:
		if p.printedAll {
			return
		}
		p.printedAll = true
	case tenth == p.lastTenth && now.Sub(p.last) < 5*time.Second && !p.last.IsZero():
		return
	}
	p.last, p.lastTenth = now, tenth
	fmt.Fprintf(p.w, "audit: %d/%d entries (%d%%)%s\n", done, total, percent(done, total), p.rate(now))
}

func percent(done, total uint64) uint64 {
	if total == 0 {
		return 100
	}
	return done * 100 / total
}

func (p *progressBar) rate(now time.Time) string {
	s := now.Sub(p.start).Seconds()
	if s < 0.5 || p.done <= p.first {
		return ""
	}
	r := float64(p.done-p.first) / s
	eta := ""
	if r > 0 && p.total > p.done {
		eta = fmt.Sprintf(", ETA %s", time.Duration(float64(p.total-p.done)/r*float64(time.Second)).Round(time.Second))
	}
	return fmt.Sprintf("  %.0f/s%s", r, eta)
}

func (p *progressBar) finish() {
	if p.bar && !p.last.IsZero() {
		fmt.Fprintln(p.w)
	}
}
