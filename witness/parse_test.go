package witness_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/tabularium/tabula/witness"
)

func TestParseAddCheckpoint(t *testing.T) {
	h := sha256.Sum256([]byte("x"))
	h64 := base64.StdEncoding.EncodeToString(h[:])
	tests := []struct {
		name     string
		body     string
		ok       bool
		old      uint64
		proofLen int
		signed   string
	}{
		{"empty proof", "old 0\n\nnote\n", true, 0, 0, "note\n"},
		{"two lines", "old 7\n" + h64 + "\n" + h64 + "\n\nn", true, 7, 2, "n"},
		{"max size", "old 18446744073709551615\n\nn", true, 1<<64 - 1, 0, "n"},
		{"63 lines", "old 1\n" + strings.Repeat(h64+"\n", 63) + "\nn", true, 1, 63, "n"},
		{"64 lines", "old 1\n" + strings.Repeat(h64+"\n", 64) + "\nn", false, 0, 0, ""},
		{"old overflows", "old 18446744073709551616\n\nn", false, 0, 0, ""},
		{"leading zero", "old 07\n\nn", false, 0, 0, ""},
		{"sign", "old +7\n\nn", false, 0, 0, ""},
		{"negative", "old -1\n\nn", false, 0, 0, ""},
		{"no number", "old \n\nn", false, 0, 0, ""},
		{"two spaces", "old  7\n\nn", false, 0, 0, ""},
		{"CRLF", "old 7\r\n\r\nn", false, 0, 0, ""},
		{"CRLF proof", "old 7\n" + h64 + "\r\n\nn", false, 0, 0, ""},
		{"bad base64", "old 7\n" + strings.Repeat("!", 44) + "\n\nn", false, 0, 0, ""},
		{"unpadded base64", "old 7\n" + strings.TrimRight(h64, "=") + "\n\nn", false, 0, 0, ""},
		{"short hash", "old 7\n" + base64.StdEncoding.EncodeToString(h[:31]) + "\n\nn", false, 0, 0, ""},
		{"no blank line", "old 7\n" + h64 + "\n", false, 0, 0, ""},
		{"no checkpoint", "old 7\n\n", false, 0, 0, ""},
		{"no old line", "7\n\nn", false, 0, 0, ""},
		{"empty", "", false, 0, 0, ""},
		{"upper OLD", "OLD 7\n\nn", false, 0, 0, ""},
		{"non-UTF-8 size", "old 7\xff\n\nn", false, 0, 0, ""},
	}
	for _, tt := range tests {
		old, proof, signed, err := witness.ParseAddCheckpoint([]byte(tt.body))
		if (err == nil) != tt.ok {
			t.Errorf("%s: err %v, want ok %v", tt.name, err, tt.ok)
			continue
		}
		if tt.ok && (old != tt.old || len(proof) != tt.proofLen || string(signed) != tt.signed) {
			t.Errorf("%s: %d, %d lines, %q; want %d, %d, %q", tt.name, old, len(proof), signed, tt.old, tt.proofLen, tt.signed)
		}
	}
}

// TestHostileDoor sends malformed and hostile bodies through HTTP: every one
// is refused with a 4xx, and none moves the state.
func TestHostileDoor(t *testing.T) {
	st := engines[0].open(t)(t)
	l := newTestLog(t, origin)
	l.grow("a", 8)
	w := newWitness(t, newSigner(t, "w"), st, witness.Log{Origin: origin, Verifiers: []note.Verifier{l.verifier(t)}})
	srv := httptest.NewServer(w.Handler())
	defer srv.Close()
	cp4, cp8 := l.signed(t, 4), l.signed(t, 8)
	if code, _, got := post(t, srv.URL, body(0, nil, cp4)); code != 200 {
		t.Fatalf("first: %d %q", code, got)
	}
	p := l.proof(t, 4, 8)
	h64 := base64.StdEncoding.EncodeToString(p[0])
	noteText := text(origin, 8, l.tree.HashAt(8))
	tests := []struct {
		name string
		body []byte
		code int
	}{
		{"huge old", body(1<<63, nil, cp8), 400},
		{"old 2^64", []byte("old 18446744073709551616\n\n" + string(cp8)), 400},
		{"64 proof lines", []byte("old 4\n" + strings.Repeat(h64+"\n", 64) + "\n" + string(cp8)), 400},
		{"63 garbage proof lines", []byte("old 4\n" + strings.Repeat(h64+"\n", 63) + "\n" + string(cp8)), 422},
		{"bad base64", []byte("old 4\n" + strings.Repeat("*", 44) + "\n\n" + string(cp8)), 400},
		{"missing blank line", []byte("old 4\n" + string(cp8)), 400},
		{"CRLF", []byte(strings.ReplaceAll(string(body(4, p, cp8)), "\n", "\r\n")), 400},
		{"CRLF in the note", body(4, p, []byte(strings.ReplaceAll(string(cp8), "\n", "\r\n"))), 400},
		{"non-UTF-8 note", body(4, p, append([]byte(origin+"\n8\n\xff\xfe\n\n"), cp8[len(noteText)+1:]...)), 400},
		{"NUL in the note", body(4, p, append([]byte(origin+"\n8\x00\n"), cp8[len(origin)+3:]...)), 400},
		{"no signature", body(4, p, []byte(noteText+"\n")), 400},
		{"text only", body(4, p, []byte(noteText)), 400},
		{"origin only", body(4, p, []byte(origin)), 400},
		{"empty origin", body(4, p, []byte("\n8\nroot\n\n— x abc\n")), 400},
		{"size with a leading zero", body(4, p, signText(t, l, origin+"\n08\n"+base64.StdEncoding.EncodeToString(l.tree.HashAt(8))+"\n")), 400},
		{"root in non-canonical base64", body(4, p, signText(t, l, origin+"\n8\n"+nonCanonical(l.tree.HashAt(8))+"\n")), 400},
		{"short root", body(4, p, signText(t, l, origin+"\n8\n"+base64.StdEncoding.EncodeToString(l.tree.HashAt(8)[:31])+"\n")), 400},
		{"101 signatures", body(4, p, append(bytes.Clone(cp8), strings.Repeat(sigLine(cp8), 101)...)), 400},
		{"signature garbage", body(4, p, []byte(noteText+"\n— "+origin+" @@@@\n")), 400},
		{"wrong origin's log sig", body(4, p, []byte(strings.Replace(string(cp8), origin, origin+"x", 1))), 404},
		{"extension line, signature over text without it", body(4, p, []byte(strings.Replace(string(cp8), "\n\n", "\next\n\n", 1))), 403},
		{"truncated", body(4, p, cp8[:len(cp8)-5]), 400},
	}
	for _, tt := range tests {
		code, _, got := post(t, srv.URL, tt.body)
		if code != tt.code {
			t.Errorf("%s: %d %q, want %d", tt.name, code, got, tt.code)
		}
	}
	if size, err := w.Size(context.Background(), origin); err != nil || size != 4 {
		t.Fatalf("after the hostile requests: size %d, %v; want 4", size, err)
	}
}

// nonCanonical is base64 of h with the padding bits of its last character
// set, which lax decoders accept.
func nonCanonical(h []byte) string {
	s := []byte(base64.StdEncoding.EncodeToString(h))
	// 32 bytes: 43 characters and '='; the last character carries 2 unused bits.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	i := strings.IndexByte(alphabet, s[42])
	s[42] = alphabet[i|1]
	return string(s)
}

func signText(t *testing.T, l *testLog, txt string) []byte {
	b, err := note.Sign(&note.Note{Text: txt}, l.signer)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sigLine is the last signature line of signed.
func sigLine(signed []byte) string {
	s := strings.TrimSuffix(string(signed), "\n")
	return s[strings.LastIndexByte(s, '\n')+1:] + "\n"
}

func FuzzParseAddCheckpoint(f *testing.F) {
	h := sha256.Sum256(nil)
	h64 := base64.StdEncoding.EncodeToString(h[:])
	for _, s := range []string{
		"old 0\n\nexample.com/log\n0\n" + h64 + "\n\n— example.com/log AAAA\n",
		"old 5\n" + h64 + "\n" + h64 + "\n\nx",
		"old 18446744073709551615\n\n\n",
		"old 07\n\nx", "old 1\r\n\r\nx", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		old, proof, signed, err := witness.ParseAddCheckpoint(b)
		if err != nil {
			return
		}
		if len(proof) > witness.MaxProofLines || len(signed) == 0 {
			t.Fatalf("%d proof lines, %d bytes of checkpoint", len(proof), len(signed))
		}
		var again bytes.Buffer
		fmt.Fprintf(&again, "old %d\n", old)
		for _, h := range proof {
			if len(h) != sha256.Size {
				t.Fatalf("proof hash of %d bytes", len(h))
			}
			again.WriteString(base64.StdEncoding.EncodeToString(h) + "\n")
		}
		again.WriteString("\n")
		again.Write(signed)
		if !bytes.Equal(again.Bytes(), b) {
			t.Fatalf("parsed %q, re-encoded %q", b, again.Bytes())
		}
	})
}
