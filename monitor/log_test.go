package monitor_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/tabularium/tabula/internal/lyinglog"
	"github.com/tabularium/tabula/monitor"
)

// FuzzVerifierVerify feeds Verifier.Verify (which reads a checkpoint served
// by an untrusted log) arbitrary bytes: it must not panic, every failure
// must wrap ErrBadCheckpoint, and a checkpoint it accepts must carry the
// origin line of its first line.
func FuzzVerifierVerify(f *testing.F) {
	l, err := lyinglog.New()
	if err != nil {
		f.Fatal(err)
	}
	if err := l.Append([]byte("a"), []byte("b"), []byte("c")); err != nil {
		f.Fatal(err)
	}
	v, err := monitor.NewVerifier(l.PublicKeyPEM())
	if err != nil {
		f.Fatal(err)
	}
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		f.Fatal(err)
	}
	if _, err := v.Verify(cp); err != nil {
		f.Fatalf("the log's own checkpoint: %v", err)
	}
	f.Add(cp)
	f.Add(bytes.Replace(cp, []byte("\n3\n"), []byte("\n4\n"), 1))
	f.Add(bytes.Replace(cp, []byte("— "+lyinglog.Hostname), []byte("— other.example"), 1))
	f.Add([]byte("origin\n1\nAAAA\n\n— x AAAAAA==\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := v.Verify(b)
		if err != nil {
			if !errors.Is(err, monitor.ErrBadCheckpoint) {
				t.Fatalf("error does not wrap ErrBadCheckpoint: %v", err)
			}
			return
		}
		if first, _, _ := bytes.Cut(b, []byte("\n")); string(first) != got.Origin {
			t.Fatalf("accepted checkpoint with origin %q, first line %q", got.Origin, first)
		}
	})
}
