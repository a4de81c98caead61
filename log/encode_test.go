package log_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	tlog "github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/storage/bodycodec"
)

// recording is a real store that keeps a copy of every appended entry's
// Stored body.
type recording struct {
	storage.Storage
	mu     sync.Mutex
	stored map[uint64]*storage.StoredBody
}

func (r *recording) Append(ctx context.Context, req storage.AppendRequest) error {
	r.mu.Lock()
	for _, e := range req.Entries {
		r.stored[e.Index] = e.Stored
	}
	r.mu.Unlock()
	return r.Storage.Append(ctx, req)
}

// TestBodiesEncodedAhead: the integrator hands the store every entry with
// its body already encoded (Stored, made while the batch was prepared), the
// encoding decodes to the body, and the entries read back from storage are
// the bodies added.
func TestBodiesEncodedAhead(t *testing.T) {
	codec, err := bodycodec.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			store := &recording{Storage: e.open(t)(t), stored: map[uint64]*storage.StoredBody{}}
			l := openLog(t, store, newSigner(t), func(c *tlog.Config) { c.EntryCacheSize = -1 })
			ctx := context.Background()
			const n = 40
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					// A body of the dictionary's shape (compressed), and
					// a short one (stored raw).
					lf := leaf(i)
					if i%2 == 0 {
						lf.Body = fmt.Appendf(nil, `{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":"sha256","value":"%064x"}}}}`, i)
					}
					if _, err := l.Add(ctx, lf); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if len(store.stored) != n {
				t.Fatalf("%d entries appended, want %d", len(store.stored), n)
			}
			for idx, s := range store.stored {
				got, err := l.Entry(ctx, idx)
				if err != nil {
					t.Fatal(err)
				}
				if s == nil {
					t.Fatalf("entry %d reached the store without its encoded body", idx)
				}
				body, err := codec.Decode(s.Data, bodycodec.Format(s.Format))
				if err != nil || !bytes.Equal(body, got.Body) {
					t.Errorf("entry %d: the encoded body does not decode to the entry's body (%v)", idx, err)
				}
				compressed := bytes.HasPrefix(got.Body, []byte(`{"apiVersion"`))
				if compressed != (bodycodec.Format(s.Format) == bodycodec.ZstdV1) {
					t.Errorf("entry %d stored in format %d", idx, s.Format)
				}
				// Read back: the body as stored beside it when encoded.
				if compressed && (got.Stored == nil || !bytes.Equal(got.Stored.Data, s.Data)) {
					t.Errorf("entry %d read back without its body as stored", idx)
				}
				if !compressed && got.Stored != nil {
					t.Errorf("entry %d (raw) read back with a stored body %+v", idx, got.Stored)
				}
			}
		})
	}
}
