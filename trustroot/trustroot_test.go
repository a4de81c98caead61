package trustroot_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/tabularium/tabula/trustroot"
)

func newKey(t *testing.T) *ecdsa.PublicKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &k.PublicKey
}

// TestKeys checks the validity rules of Keys on logs given as data: entry
// times widen a Rekor v1 start and end a frozen one, consecutive Rekor v1
// logs under one key merge, a frozen empty Rekor v1 log is left out (and
// noted), a frozen Rekor v2 log ends when the next was created.
func TestKeys(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 30, 500, time.UTC)
	kA, kB, kV2a, kV2b := newKey(t), newKey(t), newKey(t), newKey(t)
	v1 := func(id string, key *ecdsa.PublicKey, frozen bool, size uint64, created time.Time) trustroot.ServerLog {
		return trustroot.ServerLog{TreeID: id, API: "v1", KeyName: "tabula.test", KeyID: trustroot.LogID(key), Key: key, Frozen: frozen, Size: size, CreatedAt: created}
	}
	v2 := func(id, origin string, key *ecdsa.PublicKey, frozen bool, created time.Time) trustroot.ServerLog {
		return trustroot.ServerLog{TreeID: id, API: "v2", Origin: origin, KeyName: origin, KeyID: []byte("id-" + id), Key: key, Frozen: frozen, CreatedAt: created}
	}
	// Entry i of log 1 was integrated at t0 - 1h + i hours, of logs 2 and 3
	// at t0 + 2h + i hours; the others cannot be read.
	entryTimes := func(_ context.Context, l trustroot.ServerLog, index uint64) (time.Time, error) {
		switch l.TreeID {
		case "1":
			return t0.Add(-time.Hour + time.Duration(index)*time.Hour), nil // before its creation (an upgraded database)
		case "2", "3":
			return t0.Add(2*time.Hour + time.Duration(index)*time.Hour), nil
		}
		return time.Time{}, fmt.Errorf("no entries in log %s", l.TreeID)
	}
	at := func(d time.Duration) time.Time { return t0.Add(d).UTC() }
	sec := func(d time.Duration) time.Time { return t0.Add(d).UTC().Truncate(time.Second) }
	tests := []struct {
		name  string
		logs  []trustroot.ServerLog
		want  []trustroot.Log
		notes int
		err   error
	}{
		{
			name: "active v1 with entries before its creation",
			logs: []trustroot.ServerLog{v1("1", kA, false, 2, t0)},
			want: []trustroot.Log{{PublicKey: kA, KeyID: trustroot.LogID(kA), BaseURL: "https://tabula.test", Start: sec(-time.Hour - time.Minute)}},
		},
		{
			name: "frozen v1 ends after its last entry; the next, under the same key, merges",
			logs: []trustroot.ServerLog{v1("2", kA, true, 3, t0), v1("3", kA, false, 1, t0.Add(5*time.Hour))},
			want: []trustroot.Log{{PublicKey: kA, KeyID: trustroot.LogID(kA), BaseURL: "https://tabula.test", Start: sec(-time.Minute)}},
		},
		{
			name: "rotated to a new key; a frozen empty v1 log left out; v2 rotated",
			logs: []trustroot.ServerLog{
				v1("2", kA, true, 3, t0), v1("9", kB, true, 0, t0.Add(6*time.Hour)), v1("4", kB, false, 0, t0.Add(7*time.Hour)),
				v2("5", "a.test", kV2a, true, t0), v2("6", "b.test", kV2b, false, t0.Add(8*time.Hour)),
			},
			want: []trustroot.Log{
				{PublicKey: kA, KeyID: trustroot.LogID(kA), BaseURL: "https://tabula.test", Start: sec(-time.Minute), End: at(4*time.Hour + time.Minute)},
				{PublicKey: kB, KeyID: trustroot.LogID(kB), BaseURL: "https://tabula.test", Start: sec(7*time.Hour - time.Minute)},
				{PublicKey: kV2a, KeyID: []byte("id-5"), BaseURL: "https://a.test", Start: sec(-time.Minute), End: at(8*time.Hour + time.Minute)},
				{PublicKey: kV2b, KeyID: []byte("id-6"), BaseURL: "https://b.test", Start: sec(8*time.Hour - time.Minute)},
			},
			notes: 1,
		},
		{
			name: "only a frozen empty v1 log",
			logs: []trustroot.ServerLog{v1("9", kB, true, 0, t0)},
			err:  trustroot.ErrNoLog, notes: 1,
		},
		{
			name: "an entry that cannot be read",
			logs: []trustroot.ServerLog{v1("7", kB, false, 1, t0)},
			err:  errors.New("no entries in log 7"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var notes []string
			got, err := trustroot.Keys(context.Background(), tt.logs, entryTimes, func(s string) { notes = append(notes, s) })
			if tt.err != nil {
				if err == nil || !strings.Contains(err.Error(), tt.err.Error()) {
					t.Fatalf("error %v, want %v", err, tt.err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if len(notes) != tt.notes {
				t.Errorf("notes %q, want %d", notes, tt.notes)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("%d keys, want %d: %+v", len(got), len(tt.want), got)
			}
			for i, w := range tt.want {
				g := got[i]
				if !g.PublicKey.(*ecdsa.PublicKey).Equal(w.PublicKey) || !bytes.Equal(g.KeyID, w.KeyID) || g.BaseURL != w.BaseURL || !g.Start.Equal(w.Start) || !g.End.Equal(w.End) {
					t.Errorf("key %d: %+v\nwant %+v", i, g, w)
				}
			}
		})
	}
}

// TestDocuments checks the two documents decode strictly as protobuf-specs
// messages, with the services in their order and the validity starts
// truncated to the second.
func TestDocuments(t *testing.T) {
	created := time.Date(2026, 1, 1, 12, 0, 30, 500, time.UTC)
	logs := []trustroot.ServerLog{
		{TreeID: "1", API: "v1", CreatedAt: created},
		{TreeID: "2", API: "v1", Frozen: true, CreatedAt: created},
		{TreeID: "3", API: "v2", CreatedAt: created.Add(time.Hour)},
	}
	for _, tt := range []struct {
		v1, v2 bool
		want   []string
	}{
		{true, true, []string{"https://x.test 2 2026-01-01T12:59:30Z", "https://x.test 1 2026-01-01T11:59:30Z"}},
		{true, false, []string{"https://x.test 1 2026-01-01T11:59:30Z"}},
		{false, false, nil},
	} {
		sc := trustroot.SigningConfig{Operator: "x.test", Rekor: trustroot.RekorServices("https://x.test", logs, tt.v1, tt.v2)}
		b, err := sc.JSON()
		if tt.want == nil {
			if err == nil {
				t.Errorf("a signing config without Rekor: %s", b)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		var pb prototrustroot.SigningConfig
		if err := protojson.Unmarshal(b, &pb); err != nil {
			t.Fatalf("%v\n%s", err, b)
		}
		var got []string
		for _, s := range pb.GetRekorTlogUrls() {
			got = append(got, fmt.Sprintf("%s %d %s", s.GetUrl(), s.GetMajorApiVersion(), s.GetValidFor().GetStart().AsTime().Format(time.RFC3339Nano)))
			if s.GetOperator() != "x.test" {
				t.Errorf("operator %q", s.GetOperator())
			}
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") || pb.GetMediaType() != trustroot.SigningConfigMediaType {
			t.Errorf("v1 %v v2 %v: Rekor services %v, want %v", tt.v1, tt.v2, got, tt.want)
		}
	}

	k := newKey(t)
	tr := trustroot.TrustedRoot{Logs: []trustroot.Log{{PublicKey: k, BaseURL: "https://x.test", Start: created}}}
	b, err := tr.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var pb prototrustroot.TrustedRoot
	if err := protojson.Unmarshal(b, &pb); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if len(pb.GetTlogs()) != 1 || !bytes.Equal(pb.GetTlogs()[0].GetLogId().GetKeyId(), trustroot.LogID(k)) || pb.GetTlogs()[0].GetPublicKey().GetValidFor().GetEnd() != nil {
		t.Errorf("trusted root:\n%s", b)
	}
	for _, field := range []string{`"certificateAuthorities": []`, `"ctlogs": []`, `"timestampAuthorities": []`} {
		if !bytes.Contains(b, []byte(field)) {
			t.Errorf("trusted root lacks %s:\n%s", field, b)
		}
	}
	if _, err := (trustroot.TrustedRoot{}).JSON(); err == nil {
		t.Error("a trusted root without logs")
	}
	if _, err := (trustroot.TrustedRoot{Logs: []trustroot.Log{{PublicKey: "not a key"}}}).JSON(); err == nil {
		t.Error("a trusted root with a bad key")
	}
}
