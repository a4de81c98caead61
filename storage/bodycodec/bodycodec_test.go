package bodycodec

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/hashedrekord"
)

func newCodec(t testing.TB) *Codec {
	t.Helper()
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// sample is a body and where it comes from.
type sample struct {
	name string
	body []byte
}

// generated returns n canonical hashedrekord bodies made by testentry, as
// the API would store them: ECDSA P-256 keys (PUBLIC KEY PEM) when cert is
// false, else Fulcio-style certificates.
// zstdOnly is body with a space after its first byte: the same bytes to
// zstd, but not a canonical hashedrekord body (HashedRekordV1), so that a
// test or benchmark of the zstd format gets one.
func zstdOnly(samples []sample) []sample {
	out := make([]sample, len(samples))
	for i, s := range samples {
		out[i] = sample{s.name + " (not canonical)", append([]byte{s.body[0], ' '}, s.body[1:]...)}
	}
	return out
}

func generated(t testing.TB, n int, cert bool) []sample {
	t.Helper()
	reg := types.NewRegistry(hashedrekord.New())
	var out []sample
	for i := range n {
		var (
			s   *testentry.Signer
			err error
		)
		if cert {
			s, err = testentry.NewCertSigner(fmt.Sprintf("signer%d@example.com", i))
		} else {
			s, err = testentry.NewSigner()
		}
		if err != nil {
			t.Fatal(err)
		}
		proposed, err := s.HashedRekord(fmt.Appendf(nil, "artifact %d", i))
		if err != nil {
			t.Fatal(err)
		}
		c, err := reg.Canonicalize(context.Background(), proposed)
		if err != nil {
			t.Fatal(err)
		}
		kind := "key"
		if cert {
			kind = "cert"
		}
		out = append(out, sample{fmt.Sprintf("testentry hashedrekord %s %d", kind, i), c.Body})
	}
	return out
}

// publicGood returns the distinct canonical bodies of the Sigstore
// public-good bundles in ../shared/testdata, if it is there.
func publicGood(t testing.TB) []sample {
	t.Helper()
	files, _ := filepath.Glob("../../../shared/testdata/public-good/*.json")
	var out []sample
	seen := make(map[string]bool)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var bundle struct {
			VerificationMaterial struct {
				TlogEntries []struct {
					CanonicalizedBody string `json:"canonicalizedBody"`
				} `json:"tlogEntries"`
			} `json:"verificationMaterial"`
		}
		if json.Unmarshal(b, &bundle) != nil {
			continue
		}
		for _, e := range bundle.VerificationMaterial.TlogEntries {
			body, err := base64.StdEncoding.DecodeString(e.CanonicalizedBody)
			if err != nil || len(body) < 100 || seen[string(body)] {
				continue
			}
			seen[string(body)] = true
			out = append(out, sample{"shared " + filepath.Base(f), body})
		}
	}
	return out
}

func repoSamples(t testing.TB) []sample {
	t.Helper()
	var out []sample
	for name, b := range repoBodies(t) {
		out = append(out, sample{name, b})
	}
	slices.SortFunc(out, func(a, b sample) int { return strings.Compare(a.name, b.name) })
	return out
}

func TestRoundTrip(t *testing.T) {
	c := newCodec(t)
	random := make([]byte, 700)
	rand.Read(random)
	samples := append(repoSamples(t), publicGood(t)...)
	samples = append(samples, generated(t, 4, false)...)
	samples = append(samples, generated(t, 2, true)...)
	samples = append(samples,
		sample{"empty", []byte{}},
		sample{"nil", nil},
		sample{"one byte", []byte("{")},
		sample{"random", random},
		sample{"MaxBodySize of one byte", bytes.Repeat([]byte("a"), MaxBodySize)},
		sample{"past MaxBodySize", bytes.Repeat([]byte("a"), MaxBodySize+1)},
	)
	for _, s := range samples {
		stored, f := c.Encode(s.body)
		got, err := c.Decode(stored, f)
		if err != nil {
			t.Errorf("%s: Decode: %v", s.name, err)
			continue
		}
		if !bytes.Equal(got, s.body) {
			t.Errorf("%s: round trip changed the body", s.name)
		}
		if len(stored) > len(s.body) {
			t.Errorf("%s: stored %d bytes for a body of %d", s.name, len(stored), len(s.body))
		}
		if f == ZstdV1 && len(stored) > 0 && &stored[0] == &s.body[0] {
			t.Errorf("%s: a compressed body aliases its input", s.name)
		}
	}
}

// TestConcurrent: one Codec encodes and decodes from many goroutines (run
// with -race).
func TestConcurrent(t *testing.T) {
	c := newCodec(t)
	bodies := append(generated(t, 2, false), zstdOnly(generated(t, 2, false))...)
	for g := range 8 {
		t.Run(fmt.Sprint(g), func(t *testing.T) {
			t.Parallel()
			for i := range 50 {
				b := bodies[(g+i)%len(bodies)].body
				stored, f := c.Encode(b)
				got, err := c.Decode(stored, f)
				if err != nil || !bytes.Equal(got, b) || f == Raw {
					t.Fatalf("round trip: format %d, %v", f, err)
				}
			}
		})
	}
}

// TestEncodeBatch: a batch, spread over goroutines or not, is encoded as
// each body alone would be, in order.
func TestEncodeBatch(t *testing.T) {
	c := newCodec(t)
	gen := generated(t, 3, false)
	random := make([]byte, 500)
	rand.Read(random)
	for _, n := range []int{0, 1, batchPerWorker - 1, 2 * batchPerWorker, 5*batchPerWorker + 3} {
		bodies := make([][]byte, n)
		for i := range bodies {
			switch i % 4 {
			case 0, 1:
				bodies[i] = gen[i%len(gen)].body
			case 2:
				bodies[i] = random
			}
		}
		stored, formats := c.EncodeBatch(bodies)
		if len(stored) != n || len(formats) != n {
			t.Fatalf("batch of %d: %d stored, %d formats", n, len(stored), len(formats))
		}
		for i, b := range bodies {
			want, wantF := c.Encode(b)
			if formats[i] != wantF || len(stored[i]) != len(want) {
				t.Errorf("batch of %d, body %d: format %d, %d bytes; alone: %d, %d bytes", n, i, formats[i], len(stored[i]), wantF, len(want))
			}
			if got, err := c.Decode(stored[i], formats[i]); err != nil || !bytes.Equal(got, b) {
				t.Errorf("batch of %d, body %d: round trip: %v", n, i, err)
			}
		}
	}
}

// TestEncodeColumnsStored: EncodeColumns keeps what EncodeEntries encoded
// ahead (even bytes it could not have made itself: it does not encode an
// entry twice), encodes the rest, and gives NULL formats for raw bodies.
func TestEncodeColumnsStored(t *testing.T) {
	c := newCodec(t)
	gen := generated(t, 4, false)
	random := make([]byte, 500)
	rand.Read(random)
	entries := []storage.Entry{{Body: gen[0].body}, {Body: random}, {Body: gen[1].body}, {Body: gen[2].body}}
	c.EncodeEntries(entries[:2])
	for i, e := range entries[:2] {
		want, wantF := c.Encode(e.Body)
		if e.Stored == nil || !bytes.Equal(e.Stored.Data, want) || e.Stored.Format != int16(wantF) {
			t.Fatalf("EncodeEntries, entry %d: %+v, want %d bytes in format %d", i, e.Stored, len(want), wantF)
		}
	}
	marker := &storage.StoredBody{Data: []byte("kept as given"), Format: int16(ZstdV1)}
	entries[2].Stored = marker
	stored, formats := c.EncodeColumns(entries)
	if string(stored[2]) != "kept as given" || formats[2] == nil || *formats[2] != int16(ZstdV1) {
		t.Errorf("entry 2: stored %q, format %v: its Stored was not used", stored[2], formats[2])
	}
	if formats[1] != nil || !bytes.Equal(stored[1], random) {
		t.Errorf("entry 1 (incompressible): format %v, want NULL and the body itself", formats[1])
	}
	for _, i := range []int{0, 3} {
		if formats[i] == nil {
			t.Fatalf("entry %d: NULL format", i)
		}
		if got, err := c.Decode(stored[i], Format(*formats[i])); err != nil || !bytes.Equal(got, entries[i].Body) {
			t.Errorf("entry %d: round trip: %v", i, err)
		}
	}
}

// TestRawFallback: what does not shrink is stored as it is, and what is
// longer than MaxBodySize is never compressed.
func TestRawFallback(t *testing.T) {
	c := newCodec(t)
	random := make([]byte, 600)
	rand.Read(random)
	for _, tc := range []struct {
		name string
		body []byte
		want Format
	}{
		{"empty", []byte{}, Raw},
		{"short", []byte(`{}`), Raw},
		{"random bytes", random, Raw},
		{"past MaxBodySize", bytes.Repeat([]byte(`{"a":1}`), MaxBodySize/7+1), Raw},
		{"hashedrekord", generated(t, 1, false)[0].body, HashedRekordV1},
		{"hashedrekord, not canonical", zstdOnly(generated(t, 1, false))[0].body, ZstdV1},
		{"MaxBodySize", bytes.Repeat([]byte("a"), MaxBodySize), ZstdV1},
	} {
		stored, f := c.Encode(tc.body)
		if f != tc.want {
			t.Errorf("%s: format %d, want %d", tc.name, f, tc.want)
		}
		if f == Raw && !bytes.Equal(stored, tc.body) {
			t.Errorf("%s: a raw body was changed", tc.name)
		}
	}
}

// TestDecodeRefuses: stored bodies that are not what Encode writes fail
// with ErrCorrupt, however they were made.
func TestDecodeRefuses(t *testing.T) {
	c := newCodec(t)
	orig := zstdOnly(generated(t, 1, false))[0].body
	good, f := c.Encode(orig)
	if f != ZstdV1 {
		t.Fatal("the sample was not compressed")
	}
	frame := func(body []byte, opts ...zstd.EOption) []byte {
		enc, err := zstd.NewWriter(nil, opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer enc.Close()
		return enc.EncodeAll(body, nil)[len(magic):]
	}
	big := bytes.Repeat([]byte("a"), MaxBodySize+1)
	// A frame without its content size: no flags, a 1 KiB window, one raw
	// last block of 600 bytes.
	blockHeader := 600<<3 | 1
	noSize := append([]byte{0x00, 0x00, byte(blockHeader), byte(blockHeader >> 8), byte(blockHeader >> 16)}, big[:600]...)
	flipped := slices.Clone(good)
	flipped[len(flipped)/2] ^= 0xff
	for _, tc := range []struct {
		name   string
		stored []byte
		f      Format
	}{
		{"unknown format", good, 3},
		{"negative format", good, -1},
		{"empty", nil, ZstdV1},
		{"header only", good[:3], ZstdV1},
		{"truncated", good[:len(good)-5], ZstdV1},
		{"trailing garbage in a block", append(slices.Clone(good[:len(good)-1]), 0xff, 0xff), ZstdV1},
		{"flipped byte", flipped, ZstdV1},
		{"past the cap", frame(big, zstd.WithSingleSegment(true)), ZstdV1},
		{"no content size", noSize, ZstdV1},
		{"another dictionary ID", frame(big[:600], zstd.WithSingleSegment(true), zstd.WithEncoderDictRaw(7, dictV1)), ZstdV1},
		{"too long to be ours", make([]byte, MaxBodySize+1), ZstdV1},
	} {
		got, err := c.Decode(tc.stored, tc.f)
		if tc.name == "flipped byte" && err == nil {
			// Without a checksum a flip may decode to other bytes; it
			// must not decode to the body.
			if bytes.Equal(got, orig) {
				t.Errorf("%s: decoded", tc.name)
			}
			continue
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Decode = %d bytes, %v; want ErrCorrupt", tc.name, len(got), err)
		}
	}
}

// TestDecodeAllocationBound: however large the body a stored frame claims
// or holds, Decode allocates a bounded amount for it (a few times
// MaxBodySize at most, decoder state included).
func TestDecodeAllocationBound(t *testing.T) {
	c := newCodec(t)
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderDictRaw(0, dictV1), zstd.WithSingleSegment(false),
		zstd.WithEncoderCRC(false), zstd.WithWindowSize(1<<15))
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	// A bomb: 64 MiB of zeros, some hundreds of bytes compressed.
	bomb := enc.EncodeAll(make([]byte, 64<<20), nil)[len(magic):]
	// The same frame with its content size field set to the cap, so that
	// the header check passes and only the decoder's limit stops it.
	// (Header: descriptor, window, then a 4-byte content size.)
	if bomb[0]>>6 != 2 || bomb[0]&(1<<5) != 0 {
		t.Fatalf("the bomb's frame header descriptor is %#x, want a 4-byte content size after a window byte", bomb[0])
	}
	lying := slices.Clone(bomb)
	binary.LittleEndian.PutUint32(lying[2:], MaxBodySize)
	var h zstd.Header
	if err := h.Decode(append(slices.Clone(magic), lying...)); err != nil || h.FrameContentSize != MaxBodySize {
		t.Fatalf("the lying frame's header: %v (content size %d)", err, h.FrameContentSize)
	}
	for _, tc := range []struct {
		name   string
		stored []byte
	}{{"bomb", bomb}, {"bomb claiming MaxBodySize", lying}} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		body, err := c.Decode(tc.stored, ZstdV1)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrCorrupt) || len(body) > MaxBodySize {
			t.Errorf("%s: Decode = %d bytes, %v; want ErrCorrupt", tc.name, len(body), err)
		}
		n := after.TotalAlloc - before.TotalAlloc
		t.Logf("%s: %v after %d bytes allocated", tc.name, err, n)
		if n > 8*MaxBodySize {
			t.Errorf("%s: Decode allocated %d bytes, want at most %d", tc.name, n, 8*MaxBodySize)
		}
	}
}

// TestCompressedSize reports the stored size of every sample (go test -v)
// and holds the codec to its aim: about half on hashedrekord bodies.
func TestCompressedSize(t *testing.T) {
	c := newCodec(t)
	groups := []struct {
		name    string
		samples []sample
		maxRate float64 // stored/raw over the group
	}{
		{"testentry hashedrekord, ECDSA P-256 public key", generated(t, 32, false), 0.40},
		{"testentry hashedrekord, Fulcio-style certificate", generated(t, 8, true), 0.60},
		{"the same, not canonical (zstd)", zstdOnly(generated(t, 32, false)), 0.52},
		{"certificates, not canonical (zstd)", zstdOnly(generated(t, 8, true)), 0.80},
		{"repository testdata bodies", repoSamples(t), 0.75},
		{"shared public-good bundle bodies", publicGood(t), 0.80},
	}
	for _, g := range groups {
		if len(g.samples) == 0 {
			t.Logf("%s: none (../shared/testdata absent)", g.name)
			continue
		}
		var raw, stored int
		for _, s := range g.samples {
			st, _ := c.Encode(s.body)
			raw += len(s.body)
			stored += len(st)
			if testing.Verbose() {
				t.Logf("  %5d -> %5d  %s", len(s.body), len(st), s.name)
			}
		}
		rate := float64(stored) / float64(raw)
		t.Logf("%s: %d bodies, %.0f -> %.0f bytes on average (%.2f), %.0f bytes saved a body",
			g.name, len(g.samples), float64(raw)/float64(len(g.samples)), float64(stored)/float64(len(g.samples)),
			rate, float64(raw-stored)/float64(len(g.samples)))
		if rate > g.maxRate {
			t.Errorf("%s: stored/raw %.2f, want at most %.2f", g.name, rate, g.maxRate)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, tc := range []struct {
		name      string
		level     zstd.EncoderLevel
		noEntropy bool
	}{
		{"hashedrekord-fields", zstd.SpeedFastest, false},
		{"fastest", zstd.SpeedFastest, false},
		{"fastest-noentropy", zstd.SpeedFastest, true},
		{"default", zstd.SpeedDefault, false},
		{"better", zstd.SpeedBetterCompression, false},
		{"best", zstd.SpeedBestCompression, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c := newCodec(b)
			if tc.level != zstd.SpeedFastest || tc.noEntropy {
				enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(tc.level), zstd.WithEncoderDictRaw(0, dictV1),
					zstd.WithEncoderCRC(false), zstd.WithSingleSegment(true), zstd.WithWindowSize(1<<17),
					zstd.WithNoEntropyCompression(tc.noEntropy))
				if err != nil {
					b.Fatal(err)
				}
				c.enc.Close()
				c.enc = enc
			}
			bodies := generated(b, 16, false)
			if tc.name != "hashedrekord-fields" {
				bodies = zstdOnly(bodies)
			}
			var raw, stored int
			for _, s := range bodies {
				st, _ := c.Encode(s.body)
				raw += len(s.body)
				stored += len(st)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				c.Encode(bodies[i%len(bodies)].body)
			}
			b.ReportMetric(float64(raw)/float64(len(bodies)), "raw-B/body")
			b.ReportMetric(float64(stored)/float64(len(bodies)), "stored-B/body")
			b.ReportMetric(float64(raw-stored)/float64(len(bodies)), "saved-B/body")
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, tc := range []struct {
		name string
		want Format
	}{{"hashedrekord-fields", HashedRekordV1}, {"zstd", ZstdV1}} {
		b.Run(tc.name, func(b *testing.B) {
			c := newCodec(b)
			bodies := generated(b, 16, false)
			if tc.want == ZstdV1 {
				bodies = zstdOnly(bodies)
			}
			stored := make([][]byte, len(bodies))
			for i, s := range bodies {
				var f Format
				if stored[i], f = c.Encode(s.body); f != tc.want {
					b.Fatalf("format %d, want %d", f, tc.want)
				}
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, err := c.Decode(stored[i%len(stored)], tc.want); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzDecode: Decode of any input never panics, never returns more than
// MaxBodySize bytes, and fails only with ErrCorrupt; what Encode writes
// decodes to what it was given.
func FuzzDecode(f *testing.F) {
	c := newCodec(f)
	for _, s := range append(repoSamples(f)[:4], append(generated(f, 2, false), zstdOnly(generated(f, 1, true))...)...) {
		stored, format := c.Encode(s.body)
		f.Add(stored, int16(format))
		f.Add(s.body, int16(Raw))
	}
	f.Add([]byte{}, int16(ZstdV1))
	f.Fuzz(func(t *testing.T, stored []byte, format int16) {
		body, err := c.Decode(stored, Format(format))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Decode: %v, not ErrCorrupt", err)
			}
			return
		}
		if Format(format) != Raw && len(body) > MaxBodySize {
			t.Fatalf("Decode returned %d bytes, past MaxBodySize", len(body))
		}
		again, f := c.Encode(body)
		back, err := c.Decode(again, f)
		if err != nil || !bytes.Equal(back, body) {
			t.Fatalf("Encode then Decode of a decoded body: %v", err)
		}
	})
}
