// Package bodycodec is how the storage drivers keep an entry's canonical
// body on disk: compressed with zstd against a fixed dictionary when that
// makes it smaller, raw otherwise.
//
// An entry body is a few hundred bytes of JSON around base64 and hex: too
// small for PostgreSQL's own column compression (which starts at ~2 KB rows)
// and, for its LZ codecs, nearly incompressible (base64 has no repeats).
// zstd's entropy coding takes hex to ~4 bits a character and base64 to ~6,
// and a raw-content dictionary of the constant parts of the bodies Tabula
// stores (JSON skeletons of every kind and apiVersion, the base64 of PEM
// headers and SubjectPublicKeyInfo prefixes, the constant runs of Fulcio
// certificates) turns those into a few back-references. A hashedrekord with
// an ECDSA P-256 key goes from 557 bytes to about half.
//
// A stored body comes with its Format, kept by the drivers in a column of
// its own (NULL for Raw, so rows written before the column existed read as
// they were written). A Format names the codec and the dictionary
// together: a new dictionary is a new Format, and rows of the old one stay
// readable as long as the old Format is decoded, so a dictionary never has
// to change under stored rows. Once released, a Format's meaning and its
// dictionary file never change (TestDictionaryV1 pins it).
//
// Decode treats its input as possibly hostile (the database is trusted, but
// a codec should not be the weak point): it never panics, and it never
// decodes, nor allocates room for, more than MaxBodySize bytes. Encode
// never compresses a body longer than MaxBodySize, so what it writes always
// decodes.
package bodycodec

import (
	_ "embed"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Format says how a stored body is encoded. It is the value of the drivers'
// body_format column; Raw is stored as NULL.
type Format int16

const (
	// Raw is a body stored as it is.
	Raw Format = 0
	// ZstdV1 is a zstd frame made with dictionary v1 (dict-v1.txt, a
	// raw-content dictionary of ID 0), without its 4-byte magic number, with
	// the content size in its header and no checksum: one block, single
	// segment. (The leaf hash stored beside the body covers its integrity.)
	ZstdV1 Format = 1
	// HashedRekordV1 (2) is in hashedrekord.go.
)

// MaxBodySize is the longest body Encode compresses and Decode produces; a
// longer one is stored raw. It is above the longest body the log accepts
// (merkle.MaxBundleEntry, 65,535 bytes).
const MaxBodySize = 1 << 16

// ErrCorrupt is returned (wrapped) by Decode for a stored body that is not
// a valid encoding of its Format, or that decodes past MaxBodySize.
var ErrCorrupt = errors.New("bodycodec: corrupt stored body")

// dictV1 is dictionary v1. Never edit it: rows of Format ZstdV1 depend on
// every byte. See mkdict_test.go for how it was made.
//
//go:embed dict-v1.txt
var dictV1 []byte

// magic is the zstd frame magic number, stripped from stored frames.
var magic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// Codec encodes and decodes bodies. It is safe for concurrent use; make one
// per store (New) and share it.
type Codec struct {
	enc *zstd.Encoder
	dec *zstd.Decoder // dictionary v1
	buf sync.Pool     // *[]byte: a stored frame with its magic number put back
}

// New returns a Codec. Its encoder runs at zstd's fastest level: on bodies
// this small, with the dictionary doing most of the work, the higher levels
// save a few bytes for several times the CPU (see BenchmarkEncode).
func New() (*Codec, error) {
	// One encoder and decoder per CPU at most: EncodeAll and DecodeAll wait
	// for a free one, and each holds its tables.
	n := min(runtime.GOMAXPROCS(0), 16)
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderDictRaw(0, dictV1),
		zstd.WithEncoderCRC(false),
		zstd.WithSingleSegment(true),
		zstd.WithEncoderConcurrency(n),
		zstd.WithWindowSize(1<<17),
	)
	if err != nil {
		return nil, fmt.Errorf("bodycodec: encoder: %w", err)
	}
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderDictRaw(0, dictV1),
		zstd.WithDecoderMaxMemory(MaxBodySize),
		zstd.WithDecoderMaxWindow(1<<17),
		zstd.WithDecoderConcurrency(n),
		zstd.WithDecodeAllCapLimit(true),
	)
	if err != nil {
		enc.Close()
		return nil, fmt.Errorf("bodycodec: decoder: %w", err)
	}
	return &Codec{enc: enc, dec: dec}, nil
}

// Close releases the encoder's and decoder's resources. A Codec used only
// through Encode and Decode holds no goroutines, so one dropped unclosed
// (as the drivers do with theirs) is simply collected.
func (c *Codec) Close() {
	c.enc.Close()
	c.dec.Close()
}

// Encode returns what to store for body and its Format: HashedRekordV1
// for a canonical hashedrekord body it gives back exactly, else ZstdV1 when
// that is shorter than body, else body itself and Raw. The result does not
// alias body when its Format is not Raw.
func (c *Codec) Encode(body []byte) ([]byte, Format) {
	if len(body) == 0 || len(body) > MaxBodySize {
		return body, Raw
	}
	if stored, ok := encodeHashedRekord(body); ok && len(stored) < len(body) {
		return stored, HashedRekordV1
	}
	frame := c.enc.EncodeAll(body, make([]byte, 0, len(body)))
	if len(frame) < len(magic) || string(frame[:len(magic)]) != string(magic) {
		return body, Raw // cannot happen; a raw body is always a correct answer
	}
	stored := frame[len(magic):]
	if len(stored) >= len(body) {
		return body, Raw
	}
	return stored, ZstdV1
}

// batchPerWorker is the fewest bodies EncodeBatch gives a goroutine: ~15 µs
// each, against a few µs to start and join one.
const batchPerWorker = 16

// EncodeBatch is Encode of every body, spread over the CPUs when there are
// many: a driver encodes a batch on the log's integration path, which takes
// one batch at a time.
func (c *Codec) EncodeBatch(bodies [][]byte) (stored [][]byte, formats []Format) {
	stored, formats = make([][]byte, len(bodies)), make([]Format, len(bodies))
	workers := min(runtime.GOMAXPROCS(0), len(bodies)/batchPerWorker)
	if workers <= 1 {
		for i, b := range bodies {
			stored[i], formats[i] = c.Encode(b)
		}
		return stored, formats
	}
	var wg sync.WaitGroup
	per := (len(bodies) + workers - 1) / workers
	for lo := 0; lo < len(bodies); lo += per {
		hi := min(lo+per, len(bodies))
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				stored[i], formats[i] = c.Encode(bodies[i])
			}
		})
	}
	wg.Wait()
	return stored, formats
}

// Decode returns the body stored as stored in Format f. A Raw body is
// returned as it is (aliasing stored); a compressed one is decoded into a
// new slice of at most MaxBodySize bytes.
func (c *Codec) Decode(stored []byte, f Format) ([]byte, error) {
	switch f {
	case Raw:
		return stored, nil
	case ZstdV1:
		return c.decodeV1(stored)
	case HashedRekordV1:
		return decodeHashedRekord(stored)
	}
	return nil, fmt.Errorf("%w: unknown format %d", ErrCorrupt, f)
}

func (c *Codec) decodeV1(stored []byte) ([]byte, error) {
	// A frame of this format has its content size in the header; reading it
	// first sizes the output exactly, and refuses one past the cap before
	// anything is allocated for it.
	if len(stored) > MaxBodySize {
		return nil, fmt.Errorf("%w: %d bytes compressed", ErrCorrupt, len(stored))
	}
	bp, _ := c.buf.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	defer c.buf.Put(bp)
	frame := append(append((*bp)[:0], magic...), stored...)
	*bp = frame

	var h zstd.Header
	if err := h.Decode(frame); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if !h.HasFCS || h.FrameContentSize == 0 || h.FrameContentSize > MaxBodySize || h.DictionaryID != 0 {
		return nil, fmt.Errorf("%w: frame header (content size %d known %t, dictionary %d)",
			ErrCorrupt, h.FrameContentSize, h.HasFCS, h.DictionaryID)
	}
	body, err := c.dec.DecodeAll(frame, make([]byte, 0, h.FrameContentSize))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if uint64(len(body)) != h.FrameContentSize {
		return nil, fmt.Errorf("%w: %d bytes decoded, header says %d", ErrCorrupt, len(body), h.FrameContentSize)
	}
	return body, nil
}
