package monitor_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/tabularium/tabula/internal/lyinglog"
	"github.com/tabularium/tabula/monitor"
)

// cheap makes n small distinct entries (the auditor does not parse bodies).
func cheap(tag string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, `{"%s":%d}`, tag, i)
	}
	return out
}

func cheapLog(t testing.TB, n int) *lyinglog.Log {
	t.Helper()
	l, err := lyinglog.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append(cheap("e", n)...); err != nil {
		t.Fatal(err)
	}
	return l
}

func auditConfig(t testing.TB, l *lyinglog.Log, state string) monitor.AuditConfig {
	t.Helper()
	v, err := monitor.NewVerifier(l.PublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	return monitor.AuditConfig{Log: l, Verifier: v, StatePath: state, Workers: 3}
}

func TestAuditHonest(t *testing.T) {
	for _, n := range []int{0, 1, 255, 256, 257, 1000, 65536, 65536 + 256*3 + 7} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			l := cheapLog(t, n)
			var last, total uint64
			cfg := auditConfig(t, l, filepath.Join(t.TempDir(), "audit.json"))
			cfg.Progress = func(done, tot uint64) {
				if done < last {
					t.Errorf("progress went back from %d to %d", last, done)
				}
				last, total = done, tot
			}
			res, err := monitor.Audit(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			bundles := (n + 255) / 256
			if res.Entries != uint64(n) || res.Bundles != bundles || res.Checkpoint.Size != uint64(n) || last != uint64(n) || total != uint64(n) {
				t.Errorf("audit = %+v, progress %d/%d", res, last, total)
			}
			// Level-0 tiles, one per bundle, and every tile of the levels
			// above, full or partial.
			wantTiles := bundles
			for k := uint(1); k < 8; k++ {
				wantTiles += n >> (8 * (k + 1))
				if n>>(8*k)%256 != 0 {
					wantTiles++
				}
			}
			if res.Tiles != wantTiles {
				t.Errorf("compared %d tiles, want %d", res.Tiles, wantTiles)
			}
			// Again: nothing new to read.
			res, err = monitor.Audit(context.Background(), cfg)
			if err != nil || res.Entries != 0 || res.From != uint64(n) {
				t.Errorf("second audit = %+v, %v", res, err)
			}
		})
	}
}

// TestAuditResumes interrupts an audit, lets the log grow, and resumes.
func TestAuditResumes(t *testing.T) {
	l := cheapLog(t, 70000)
	state := filepath.Join(t.TempDir(), "audit.json")
	ctx, cancel := context.WithCancel(context.Background())
	cfg := auditConfig(t, l, state)
	cfg.Workers = 1
	cfg.Progress = func(done, _ uint64) {
		if done >= 30000 {
			cancel()
		}
	}
	res1, err := monitor.Audit(ctx, cfg)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted audit: %+v, %v", res1, err)
	}
	if res1.Entries < 30000 || res1.Entries >= 70000 {
		t.Fatalf("interrupted after %d entries", res1.Entries)
	}
	if err := l.Append(cheap("more", 1000)...); err != nil {
		t.Fatal(err)
	}
	cfg.Progress = nil
	res2, err := monitor.Audit(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res2.From != res1.Entries || res1.Entries+res2.Entries != 71000 || res2.Checkpoint.Size != 71000 {
		t.Errorf("resumed audit %+v after %+v", res2, res1)
	}
	// Restart reads everything again.
	cfg.Restart = true
	res3, err := monitor.Audit(context.Background(), cfg)
	if err != nil || res3.From != 0 || res3.Entries != 71000 {
		t.Errorf("restarted audit %+v, %v", res3, err)
	}
}

func TestAuditCatchesLyingLog(t *testing.T) {
	tests := []struct {
		name string
		// before lies before the first audit; between, after it (nil: one audit).
		before, between func(l *lyinglog.Log) error
		want            monitor.AlertKind
	}{
		{name: "drop", before: func(l *lyinglog.Log) error { return l.DropEntry(1234) }, want: monitor.AlertEntriesMismatch},
		{name: "drop the last", before: func(l *lyinglog.Log) error { return l.DropEntry(69999) }, want: monitor.AlertEntriesMismatch},
		{name: "replace", before: func(l *lyinglog.Log) error { return l.ReplaceEntry(512, []byte("{}")) }, want: monitor.AlertEntriesMismatch},
		{name: "corrupt leaf tile", before: func(l *lyinglog.Log) error { return l.CorruptTile(0, 5) }, want: monitor.AlertTilesMismatch},
		{name: "corrupt level-1 tile", before: func(l *lyinglog.Log) error { return l.CorruptTile(1, 0) }, want: monitor.AlertTilesMismatch},
		{name: "corrupt partial level-1 tile", before: func(l *lyinglog.Log) error { return l.CorruptTile(1, 1) }, want: monitor.AlertTilesMismatch},
		{name: "fork after an audit", between: func(l *lyinglog.Log) error { return l.Fork(60000, cheap("forged", 10001)...) }, want: monitor.AlertInconsistent},
		{name: "fork and grow after an audit", between: func(l *lyinglog.Log) error { return l.Fork(60000, cheap("forged", 20000)...) }, want: monitor.AlertInconsistent},
		{name: "rollback after an audit", between: func(l *lyinglog.Log) error { return l.Fork(69000) }, want: monitor.AlertInconsistent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := cheapLog(t, 70000)
			cfg := auditConfig(t, l, filepath.Join(t.TempDir(), "audit.json"))
			if tt.before != nil {
				if err := tt.before(l); err != nil {
					t.Fatal(err)
				}
			}
			res, err := monitor.Audit(context.Background(), cfg)
			if tt.between != nil {
				if err != nil {
					t.Fatalf("honest audit: %v", err)
				}
				if err := tt.between(l); err != nil {
					t.Fatal(err)
				}
				res, err = monitor.Audit(context.Background(), cfg)
			}
			kind, bad := monitor.IsMisbehavior(err)
			if !bad || kind != tt.want {
				t.Fatalf("audit = %+v, %v; want %s", res, err, tt.want)
			}
			t.Logf("%s: %v", kind, err)
		})
	}
}
