package monitor_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tabularium/tabula/monitor"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestAlertJSON pins the webhook's wire format.
func TestAlertJSON(t *testing.T) {
	at := time.Date(2026, 11, 30, 22, 45, 5, 0, time.UTC)
	index := uint64(100002)
	tests := []struct {
		name  string
		alert monitor.Alert
	}{
		{"alert-watch-match.json", monitor.Alert{
			Kind: monitor.AlertWatchMatch, Time: at, Origin: "tabula.local - 3507209614261730528",
			Message:  "entry 100002 (hashedrekord) matches the watch list: [email:alice@example.com]",
			Index:    &index,
			LeafHash: "056f2fd8718117a4d7f8028bfe1501530d6f3ae54c6246c2ed277433d2eec491", EntryKind: "hashedrekord",
			Matches: []string{"email:alice@example.com"},
		}},
		{"alert-inconsistent.json", monitor.Alert{
			Kind: monitor.AlertInconsistent, Time: at, Origin: "lying.example - 4242424242",
			Message:    "two signed checkpoints of tree size 1000 with different roots …: the log forked",
			Verified:   "lying.example - 4242424242\n1000\n2Zb8Yy5DLyHyZSYN…\n\n— lying.example …\n",
			Checkpoint: "lying.example - 4242424242\n1000\nEX2MrwZkaywn9IjBF…\n\n— lying.example …\n",
		}},
	}
	for _, tt := range tests {
		got, err := json.MarshalIndent(tt.alert, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, '\n')
		path := filepath.Join("testdata", tt.name)
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, want)
		}
		var back monitor.Alert
		if err := json.Unmarshal(want, &back); err != nil || back.Kind != tt.alert.Kind || !back.Time.Equal(at) {
			t.Errorf("%s does not decode back: %+v, %v", tt.name, back, err)
		}
	}
}
