package merkle

import (
	"bytes"
	"strings"
	"testing"
)

func TestBundle(t *testing.T) {
	entries := [][]byte{[]byte("one"), {}, []byte("three"), bytes.Repeat([]byte{7}, 65535)}
	var b []byte
	for _, e := range entries {
		var err error
		if b, err = AppendBundleEntry(b, e); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.HasPrefix(b, []byte("\x00\x03one\x00\x00\x00\x05three\xff\xff\x07")) {
		t.Errorf("bundle starts %q", b[:20])
	}
	got, err := ParseBundle(b)
	if err != nil || len(got) != len(entries) {
		t.Fatalf("ParseBundle = %d entries, %v", len(got), err)
	}
	for i := range entries {
		if !bytes.Equal(got[i], entries[i]) {
			t.Errorf("entry %d = %q, want %q", i, got[i], entries[i])
		}
	}
	// Appending to a parsed entry must not write into the bundle.
	orig := bytes.Clone(b)
	for _, e := range got {
		_ = append(e, 'X', 'X', 'X')
	}
	if !bytes.Equal(b, orig) {
		t.Error("appending to an entry overwrote the bundle")
	}

	if _, err := AppendBundleEntry(nil, make([]byte, 65536)); err == nil {
		t.Error("AppendBundleEntry accepted a 65536-byte entry")
	}
	if got, err := ParseBundle(nil); err != nil || len(got) != 0 {
		t.Errorf("ParseBundle(nil) = %q, %v", got, err)
	}

	full := bytes.Repeat([]byte("\x00\x01x"), TileWidth)
	if got, err := ParseBundle(full); err != nil || len(got) != TileWidth {
		t.Errorf("ParseBundle(256 entries) = %d entries, %v", len(got), err)
	}
	for _, bad := range []string{
		"\x00",            // truncated length
		"\x00\x03on",      // truncated entry
		"\x00\x03one\x00", // trailing half length
		"\xff\xff",        // length beyond the end
		string(full) + "\x00\x00",
	} {
		if got, err := ParseBundle([]byte(bad)); err == nil {
			t.Errorf("ParseBundle(%q) = %q, want error", truncate(bad), got)
		}
	}
}

func truncate(s string) string {
	if len(s) > 20 {
		return s[:20] + "…"
	}
	return s
}

func FuzzParseBundle(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x00\x03one\x00\x03two"))
	f.Add([]byte("\x00\x00"))
	f.Add([]byte("\xff\xff\x00"))
	f.Add([]byte(strings.Repeat("\x00\x00", TileWidth+1)))
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := ParseBundle(b)
		if err != nil {
			return
		}
		if len(entries) > TileWidth {
			t.Fatalf("%d entries", len(entries))
		}
		var out []byte
		for _, e := range entries {
			if out, err = AppendBundleEntry(out, e); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(out, b) {
			t.Errorf("ParseBundle(%x) does not re-encode to itself: %x", b, out)
		}
	})
}
