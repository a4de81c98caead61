package postgres

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/storage/bodycodec"
)

// copyThreshold is the batch size from which entries and search keys are
// written with COPY rather than INSERT … SELECT FROM unnest(arrays).
//
// Measured on PostgreSQL 15 on 2 cores (storagetest.BenchmarkAppend,
// -benchtime 200x): at 1024 entries COPY gives 45-50k entries/s against
// 38-40k; at 64 the two are within noise, and below that the two extra
// round trips COPY costs make one pipelined batch the faster.
const copyThreshold = 256

// commitTimeout bounds the wait for a COMMIT's outcome.
const commitTimeout = 30 * time.Second

// Append commits req in one transaction; see the storage package comment.
//
// Round trips: one for a batch below copyThreshold (see appendPipelined);
// for a larger one, BEGIN, the compare-and-swap, one COPY each for entries
// and search keys, one pipelined batch of the remaining statements, then
// COMMIT.
func (l *logStore) Append(ctx context.Context, req storage.AppendRequest) error {
	if err := l.append(ctx, req); err != nil {
		return fmt.Errorf("postgres: append: %w", err)
	}
	return nil
}

func (l *logStore) append(ctx context.Context, req storage.AppendRequest) error {
	if err := storage.CheckAppendRequest(req); err != nil {
		return err
	}
	if req.State.Size > math.MaxInt64-uint64(l.start) {
		return fmt.Errorf("invalid batch: size %d past the last virtual index", req.State.Size)
	}
	w := newWrites(req, l.start, l.s.codec)
	if len(w.idx) >= copyThreshold {
		return l.appendCopy(ctx, req, w)
	}
	return l.appendPipelined(ctx, req, w)
}

// lockSQL is Append's compare-and-swap (migration 00008): it locks the log's
// tree-state and logs rows, so a freeze, which updates the logs row, waits
// for the batch and the batch sees a committed freeze, and it fails the
// transaction with one of the codes lockError maps when the batch may not
// land.
const lockSQL = `SELECT tabula_lock_for_append($1, $2)`

// lockError maps lockSQL's failures onto the storage sentinels; ok is false
// for any other error.
func lockError(err error) (mapped error, ok bool) {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return nil, false
	}
	switch pgErr.Code {
	case "TBL01":
		return fmt.Errorf("%s: %w", pgErr.Message, storage.ErrNotFound), true
	case "TBL02":
		return fmt.Errorf("%s: %w", pgErr.Message, storage.ErrFrozen), true
	case "TBL03":
		return fmt.Errorf("%w: %s", storage.ErrStaleTree, pgErr.Message), true
	}
	return nil, false
}

// appendPipelined commits a batch in one round trip: BEGIN, the
// compare-and-swap, every write and COMMIT in one pipeline. A failure (the
// swap's included) aborts the transaction, and the server skips what
// follows up to the pipeline's end, the COMMIT with it; the connection is
// then rolled back before it returns to the pool.
//
// Once the pipeline is sent, its outcome is awaited even if ctx ends:
// cancelling it would return an error while the server may still commit,
// and the batch would appear after Append reported it failed.
func (l *logStore) appendPipelined(ctx context.Context, req storage.AppendRequest, w *writes) (err error) {
	conn, err := l.s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	committed := false
	defer func() {
		if committed {
			return
		}
		// Roll back whatever this connection's transaction holds; if that
		// fails, close the connection (the server then rolls back) so
		// that the pool does not hand out a connection in a transaction.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
		defer cancel()
		if _, rerr := conn.Exec(rctx, "ROLLBACK"); rerr != nil {
			conn.Conn().Close(rctx) //nolint:errcheck // the first error is the one returned
		}
	}()

	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(lockSQL, l.treeID, int64(req.OldSize))
	w.queue(b, true, l.treeID)
	b.Queue("COMMIT")
	if err := ctx.Err(); err != nil {
		return err
	}
	sendCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	results := conn.SendBatch(sendCtx, b)
	if _, err := results.Exec(); err != nil {
		results.Close()
		return fmt.Errorf("begin: %w", err)
	}
	if _, err := results.Exec(); err != nil {
		results.Close()
		if mapped, ok := lockError(err); ok {
			return mapped
		}
		return fmt.Errorf("lock tree state: %w", err)
	}
	for range b.Len() - 3 {
		if _, err := results.Exec(); err != nil {
			results.Close()
			return classify(err)
		}
	}
	tag, err := results.Exec()
	if err != nil {
		results.Close()
		return fmt.Errorf("commit: %w", err)
	}
	if err := results.Close(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	committed = true
	if tag.String() != "COMMIT" {
		// The server rolled the transaction back (it had failed).
		return fmt.Errorf("commit: %w", pgx.ErrTxCommitRollback)
	}
	return nil
}

// appendCopy commits a large batch: BEGIN, the compare-and-swap, one COPY each for
// entries and search keys, one pipelined batch of the remaining statements,
// then COMMIT.
func (l *logStore) appendCopy(ctx context.Context, req storage.AppendRequest, w *writes) error {
	tx, err := l.s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	// Rolling back after a commit is a no-op. If ctx is done, pgx closes the
	// connection instead, which makes the server roll back.
	defer tx.Rollback(ctx) //nolint:errcheck // the first error is the one returned

	if _, err := tx.Exec(ctx, lockSQL, l.treeID, int64(req.OldSize)); err != nil {
		if mapped, ok := lockError(err); ok {
			return mapped
		}
		return fmt.Errorf("lock tree state: %w", err)
	}
	if err := w.copy(ctx, tx); err != nil {
		return err
	}
	b := &pgx.Batch{}
	w.queue(b, false, l.treeID)
	results := tx.SendBatch(ctx, b)
	for range b.Len() {
		if _, err := results.Exec(); err != nil {
			results.Close()
			return classify(err)
		}
	}
	if err := results.Close(); err != nil {
		return classify(err)
	}

	// Once COMMIT is sent, wait for its outcome even if ctx ends (see commit).
	if err := ctx.Err(); err != nil {
		return err
	}
	commitCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	if err := tx.Commit(commitCtx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// classify maps a write error onto the storage sentinels callers branch on:
// a second copy of a stored leaf hash is storage.ErrDuplicate, and a refusal
// of the batch's data (see refusesData) is storage.ErrRejected.
func classify(err error) error {
	var pgErr *pgconn.PgError
	switch {
	case !errors.As(err, &pgErr):
	case pgErr.Code == "23505" && pgErr.ConstraintName == "entries_leaf_hash_key":
		return fmt.Errorf("%w: %s", storage.ErrDuplicate, pgErr.Detail)
	case refusesData(pgErr):
		return fmt.Errorf("write: %w: %w", storage.ErrRejected, err)
	}
	return fmt.Errorf("write: %w", err)
}

// refusesData reports whether the server refused a statement for the data it
// was given, so that the same batch without the entry at fault would commit:
// SQLSTATE class 22 (data exception: a value out of range, of the wrong form,
// a character the encoding cannot hold), class 54 (program limit exceeded:
// e.g. 54000, an index row over the B-tree maximum), and class 23 (integrity
// constraint violation) on an entry's own rows, except a primary key: a row
// of the batch's new indexes exists only if the tree moved, which is the
// compare-and-swap's business, not the data's. The tree state and the tiles
// are computed by the caller, never taken from an entry, so a refusal there
// is not the data's either. Connection failures, timeouts, cancellations
// (class 57), serialization failures (class 40) and the rest are not.
func refusesData(e *pgconn.PgError) bool {
	if e.TableName == "tree_state" || e.TableName == "tiles" {
		return false
	}
	if len(e.Code) != 5 {
		return false
	}
	switch e.Code[:2] {
	case "22", "54":
		return true
	case "23":
		return !strings.HasSuffix(e.ConstraintName, "_pkey")
	}
	return false
}

// writes is a batch as column arrays, ready for unnest or COPY.
type writes struct {
	// entries
	idx   []int64
	leaf  [][]byte
	body  [][]byte
	bfmt  []*int16 // body_format: NULL for a raw body
	itime []int64
	set   [][]byte
	att   [][]byte
	// search keys as stored (their first 16 bytes, see storage.StoredSearchKey), sorted
	// and without repeats: the rows are new (their indexes are), so plain
	// inserts cannot conflict, and sorted keys touch the index's pages in
	// order.
	keys   [][16]byte
	keyIdx []int64
	// tiles, at most one per coordinates, without partial level-0 tiles
	// (see storage.StoredTiles)
	tLevel  []int16
	tIdx    []int64
	tHashes [][]byte
	tNodes  [][]byte // NULL for a tile without
	// tree state
	state storage.TreeState
}

// newWrites lays out req, its entries (bodies encoded with codec) and search
// keys under their virtual indexes (start + Index).
func newWrites(req storage.AppendRequest, start int64, codec *bodycodec.Codec) *writes {
	n := len(req.Entries)
	w := &writes{
		idx:   make([]int64, n),
		leaf:  make([][]byte, n),
		itime: make([]int64, n),
		set:   make([][]byte, n),
		att:   make([][]byte, n),
		state: req.State,
	}
	w.body, w.bfmt = codec.EncodeColumns(req.Entries)
	type keyRow struct {
		key [16]byte
		idx int64
	}
	var keys []keyRow
	for i := range req.Entries {
		e := &req.Entries[i]
		w.idx[i] = start + int64(e.Index) // append bounds every virtual index by MaxInt64
		w.leaf[i] = e.LeafHash[:]
		if w.body[i] == nil {
			w.body[i] = []byte{} // NOT NULL: an empty body is still a body
		}
		w.itime[i] = e.IntegratedTime
		w.set[i] = e.SET
		w.att[i] = e.Attestation
		for _, k := range e.SearchKeys {
			keys = append(keys, keyRow{storage.StoredSearchKey(k), w.idx[i]})
		}
	}
	slices.SortFunc(keys, func(a, b keyRow) int {
		if c := bytes.Compare(a.key[:], b.key[:]); c != 0 {
			return c
		}
		return cmp.Compare(a.idx, b.idx)
	})
	keys = slices.Compact(keys)
	w.keys = make([][16]byte, len(keys))
	w.keyIdx = make([]int64, len(keys))
	for i := range keys {
		w.keys[i], w.keyIdx[i] = keys[i].key, keys[i].idx
	}
	tiles := storage.StoredTiles(req.Tiles)
	w.tLevel = make([]int16, len(tiles))
	w.tIdx = make([]int64, len(tiles))
	w.tHashes = make([][]byte, len(tiles))
	w.tNodes = make([][]byte, len(tiles))
	for i, t := range tiles {
		w.tLevel[i], w.tIdx[i], w.tHashes[i], w.tNodes[i] = int16(t.Level), int64(t.Index), t.Hashes, t.Nodes
	}
	return w
}

// copy writes the entries and search keys with COPY.
func (w *writes) copy(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"entries"},
		[]string{"idx", "leaf_hash", "body", "integrated_time", "set_sig", "attestation", "body_format"},
		pgx.CopyFromSlice(len(w.idx), func(i int) ([]any, error) {
			return []any{w.idx[i], w.leaf[i], w.body[i], w.itime[i], w.set[i], w.att[i], w.bfmt[i]}, nil
		}))
	if err != nil {
		return classify(err)
	}
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"search_keys"}, []string{"key", "idx"},
		pgx.CopyFromSlice(len(w.keys), func(i int) ([]any, error) { return []any{w.keys[i], w.keyIdx[i]}, nil }))
	if err != nil {
		return classify(err)
	}
	return nil
}

// queue adds the statements to pipeline to b: entries and search keys (when
// withRows), tiles, and the new tree state.
func (w *writes) queue(b *pgx.Batch, withRows bool, treeID int64) {
	if withRows && len(w.idx) > 0 {
		b.Queue(`
			INSERT INTO entries (idx, leaf_hash, body, integrated_time, set_sig, attestation, body_format)
			SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bytea[], $4::bigint[], $5::bytea[], $6::bytea[], $7::smallint[])`,
			w.idx, w.leaf, w.body, w.itime, w.set, w.att, w.bfmt)
	}
	if withRows && len(w.keys) > 0 {
		b.Queue(`INSERT INTO search_keys (key, idx) SELECT * FROM unnest($1::uuid[], $2::bigint[])`,
			w.keys, w.keyIdx)
	}
	if len(w.tIdx) > 0 {
		b.Queue(`
			INSERT INTO tiles (tree_id, level, idx, hashes, nodes)
			SELECT $4::bigint, * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[], $5::bytea[])
			ON CONFLICT (tree_id, level, idx) DO UPDATE SET hashes = excluded.hashes, nodes = excluded.nodes`,
			w.tLevel, w.tIdx, w.tHashes, treeID, w.tNodes)
	}
	b.Queue(`UPDATE tree_state SET size = $1, root = $2, checkpoint = $3, updated_at = now() WHERE tree_id = $4`,
		int64(w.state.Size), w.state.Root[:], w.state.Checkpoint, treeID)
}
