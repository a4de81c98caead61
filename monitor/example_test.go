package monitor_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tabularium/tabula/internal/lyinglog"
	"github.com/tabularium/tabula/monitor"
)

// A monitor remembers the last checkpoint it verified; the next check proves
// the log grew from it honestly. Here the log then rewrites its history.
// (Against a real log, pass a *client.Client as Log.)
func ExampleMonitor_Check() {
	ctx := context.Background()
	log, _ := lyinglog.New()
	_ = log.Append(cheap("entry", 1000)...)

	dir, _ := os.MkdirTemp("", "monitor-example")
	defer os.RemoveAll(dir)
	v, _ := monitor.NewVerifier(log.PublicKeyPEM()) // the pinned log key
	m, _ := monitor.New(monitor.Config{Log: log, Verifier: v, StatePath: filepath.Join(dir, "state.json")})

	res, _ := m.Check(ctx) // first check: trust on first use
	fmt.Println("verified size", res.Checkpoint.Size)

	_ = log.Append(cheap("more", 24)...)
	res, _ = m.Check(ctx)
	fmt.Println("verified size", res.Checkpoint.Size, "new entries", res.Entries, "alerts", len(res.Alerts))

	_ = log.Fork(500, cheap("forged", 600)...)
	res, _ = m.Check(ctx)
	fmt.Println("alert:", res.Alerts[0].Kind)
	// Output:
	// verified size 1000
	// verified size 1024 new entries 24 alerts 0
	// alert: inconsistent-checkpoint
}

// An audit recomputes the whole tree from the entry bundles.
func ExampleAudit() {
	log, _ := lyinglog.New()
	_ = log.Append(cheap("entry", 70000)...)
	v, _ := monitor.NewVerifier(log.PublicKeyPEM())

	res, err := monitor.Audit(context.Background(), monitor.AuditConfig{Log: log, Verifier: v})
	fmt.Println(res.Entries, "entries,", res.Bundles, "bundles,", res.Tiles, "tiles:", err)

	_ = log.ReplaceEntry(12345, []byte(`{"not":"the logged entry"}`))
	_, err = monitor.Audit(context.Background(), monitor.AuditConfig{Log: log, Verifier: v})
	kind, _ := monitor.IsMisbehavior(err)
	fmt.Println(kind)
	// Output:
	// 70000 entries, 274 bundles, 277 tiles: <nil>
	// entries-mismatch
}
