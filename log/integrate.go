package log

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/storage"
)

// Leaf is a canonical entry to append.
type Leaf struct {
	// Body is the canonical entry: the leaf value.
	Body []byte
	// SearchKeys are indexed with the entry, in the same transaction: the
	// hashes of its typed keys (types.SearchKey.Hash), which Search takes.
	SearchKeys []storage.Hash
	// Attestation is optional data stored beside the entry.
	Attestation []byte
}

// Result is what Add returns for an integrated leaf.
type Result struct {
	// Entry is the stored entry: index, integrated time, SET.
	Entry storage.Entry
	// Head is the tree state committed with the entry's batch; its checkpoint
	// covers the entry.
	Head storage.TreeState
}

type pending struct {
	leaf Leaf
	hash merkle.Hash
	done chan outcome // buffered: the integrator never blocks on a waiter
}

type outcome struct {
	res Result
	err error
}

// Add queues a leaf and waits until it is committed. It returns an
// *EntryTooLargeError (before queueing anything) if the leaf's body is larger
// than an entry bundle holds, a *DuplicateError if the leaf is already in the
// log (or, with Config.Locate, in another log of its set), a *RejectedError
// if the storage cannot hold its data, ErrPushback when the queue is full,
// ErrFrozen once the log is frozen (nothing of the leaf was written), and
// ErrClosed after Close. If ctx ends first, Add returns
// ctx's error; the leaf may still be integrated later.
func (l *Log) Add(ctx context.Context, leaf Leaf) (Result, error) {
	if len(leaf.Body) > merkle.MaxBundleEntry {
		return Result{}, &EntryTooLargeError{Size: len(leaf.Body), Limit: merkle.MaxBundleEntry}
	}
	p := &pending{leaf: leaf, hash: merkle.LeafHash(leaf.Body), done: make(chan outcome, 1)}
	l.qMu.Lock()
	switch {
	case l.closed:
		l.qMu.Unlock()
		return Result{}, ErrClosed
	case l.frozen:
		l.qMu.Unlock()
		return Result{}, ErrFrozen
	case len(l.queue) >= l.cfg.MaxPending:
		l.qMu.Unlock()
		return Result{}, ErrPushback
	}
	l.queue = append(l.queue, p)
	l.metrics.pending.Set(float64(len(l.queue)))
	l.qMu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	select {
	case o := <-p.done:
		return o.res, o.err
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

// Close stops accepting leaves, integrates those already queued, and stops
// the integrator and the disk cache's filler (abandoning the fills not
// done). It returns early with ctx's error if ctx ends first.
func (l *Log) Close(ctx context.Context) error {
	l.qMu.Lock()
	already := l.closed
	l.closed = true
	l.qMu.Unlock()
	if !already {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
	for _, done := range []chan struct{}{l.stopped, l.fillsDone} {
		if done == nil {
			continue
		}
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// integrator is the one goroutine that integrates batches. Appends are one
// at a time, in order; while one is in flight, the integrator prepares the
// next batch (the queued leaves, signed, with the tiles and checkpoint they
// make) on the head that append will commit, so that the CPU work of one
// batch overlaps the database's work on the one before (see
// integratePrepared).
func (l *Log) integrator() {
	defer close(l.stopped)
	defer l.metrics.unregister()
	var next *prepared
	for {
		if next != nil {
			next = l.integratePrepared(next)
			continue
		}
		batch, closed := l.nextBatch(true)
		if len(batch) > 0 {
			next = l.integrate(batch)
			continue
		}
		if closed {
			return
		}
		<-l.wake
	}
}

// queuedAtLeast reports whether the next batch would hold n leaves or be
// full.
func (l *Log) queuedAtLeast(n int) bool {
	l.qMu.Lock()
	defer l.qMu.Unlock()
	got, full := l.batchLen()
	return got > 0 && (full || got >= n)
}

// nextBatch takes up to BatchMaxSize leaves, with up to BatchMaxKeys search
// keys (see batchLen), off the queue. With wait and a BatchMaxAge, it first
// waits (up to that age) for the batch to fill.
func (l *Log) nextBatch(wait bool) ([]*pending, bool) {
	if age := l.cfg.BatchMaxAge; wait && age > 0 {
		timer := time.NewTimer(age)
		defer timer.Stop()
	wait:
		for {
			l.qMu.Lock()
			n, full := l.batchLen()
			closed := l.closed
			l.qMu.Unlock()
			if n == 0 || full || closed {
				break
			}
			select {
			case <-l.wake:
			case <-timer.C:
				break wait
			}
		}
	}
	l.qMu.Lock()
	defer l.qMu.Unlock()
	n, _ := l.batchLen()
	batch := make([]*pending, n)
	copy(batch, l.queue[:n])
	rest := copy(l.queue, l.queue[n:])
	clear(l.queue[rest:])
	l.queue = l.queue[:rest]
	l.metrics.pending.Set(float64(len(l.queue)))
	return batch, l.closed
}

// batchLen is how many leaves at the head of the queue make the next batch:
// at most BatchMaxSize, with at most BatchMaxKeys search keys together
// (but at least one leaf); full reports that the batch can grow no more.
// The caller holds qMu.
func (l *Log) batchLen() (n int, full bool) {
	keys := 0
	for i, p := range l.queue {
		if i == l.cfg.BatchMaxSize {
			return i, true
		}
		keys += len(p.leaf.SearchKeys)
		if keys > l.cfg.BatchMaxKeys {
			return max(i, 1), true
		}
	}
	return len(l.queue), len(l.queue) == l.cfg.BatchMaxSize || keys == l.cfg.BatchMaxKeys
}

// prepared is a batch built on a head, ready to append: what integrateOnce
// computes before the storage's Append.
type prepared struct {
	batch []*pending
	start time.Time // when the batch was taken off the queue
	ctx   context.Context
	stop  context.CancelFunc

	// err is the preparation's failure; the fields below are then unset.
	err     error
	outs    []outcome       // per leaf of batch: duplicates answered, the rest to fill
	entries []storage.Entry // the new entries, in index order
	owners  []*pending      // owners[i] sent entries[i]
	tiles   []merkle.Tile
	base    map[tileKey][]byte // the right-edge tiles of the head it was built on
	req     storage.AppendRequest
}

// integrate prepares batch on the current head, then integrates it (see
// integratePrepared); it returns the batch prepared meanwhile, if any.
func (l *Log) integrate(batch []*pending) *prepared {
	p := l.newPrepared(batch)
	head, edge, err := l.writeHead(p.ctx)
	if err != nil {
		p.err = err
	} else {
		l.prepare(p, head, edge)
	}
	return l.integratePrepared(p)
}

func (l *Log) newPrepared(batch []*pending) *prepared {
	ctx, stop := context.WithTimeout(context.Background(), l.cfg.IntegrationTimeout)
	return &prepared{batch: batch, start: time.Now(), ctx: ctx, stop: stop}
}

// integratePrepared appends p and answers its waiters. While the append is
// in flight, once the queue holds as many leaves as p (or a full batch), it
// takes them off the queue and prepares them on the head p commits; that
// batch, returned, is appended next. (Taking whatever is queued when the
// append starts made batches a third smaller and the log slower: the
// transactions' fixed costs were paid more often.) If p
// fails, the batch prepared on it is not used: both are integrated again
// from the start (see commit), p first.
func (l *Log) integratePrepared(p *prepared) *prepared {
	defer p.stop()
	var next *prepared
	err := p.err
	if err == nil && len(p.entries) > 0 {
		done := make(chan error, 1)
		go func() { done <- l.appendPrepared(p) }()
		appended := false
		for !appended && next == nil {
			if l.queuedAtLeast(len(p.entries)) {
				batch, _ := l.nextBatch(false)
				next = l.newPrepared(batch)
				l.prepare(next, p.req.State, nextEdge(p.req.State.Size, p.tiles, p.base))
				break
			}
			select {
			case err = <-done:
				appended = true
			case <-l.wake:
			}
		}
		if !appended {
			err = <-done
		}
	}
	var outs []outcome
	if err == nil {
		outs = l.finish(p)
	}
	l.settle(p.ctx, p.start, p.batch, outs, err)
	if err != nil && next != nil {
		// Built on a head that was not committed.
		defer next.stop()
		l.commit(next.ctx, next.start, next.batch)
		return nil
	}
	return next
}

// commit integrates batch, a batch taken off the queue at start or a part of
// one, and answers every waiter in it (see settle).
func (l *Log) commit(ctx context.Context, start time.Time, batch []*pending) {
	outs, err := l.integrateOnce(ctx, batch)
	l.settle(ctx, start, batch, outs, err)
}

// settle answers every waiter of batch, given the outcome of an attempt to
// integrate it (outs, err). A batch that loses the compare-and-swap to
// another process is rebuilt on the new head and retried; data the storage
// cannot hold fails only the leaf that holds it.
func (l *Log) settle(ctx context.Context, start time.Time, batch []*pending, outs []outcome, err error) {
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			outs, err = l.integrateOnce(ctx, batch)
		}
		var refused *refusedEntry
		switch {
		case err == nil:
			l.metrics.integrations.WithLabelValues("ok").Inc()
			l.metrics.integration.Observe(time.Since(start).Seconds())
			for i, p := range batch {
				p.done <- outs[i]
			}
			return
		case errors.Is(err, errDuplicate) && ctx.Err() == nil:
			// A leaf of the batch is stored: rebuild it with the lookup,
			// which names the entry each duplicate repeats.
			l.metrics.integrations.WithLabelValues("duplicate").Inc()
			l.lookupUntil = l.cfg.Now().Add(lookupAfterDuplicate)
			l.invalidateHead()
			continue
		case errors.Is(err, storage.ErrStaleTree) && ctx.Err() == nil:
			// Another process appended first: reload and rebuild.
			l.metrics.integrations.WithLabelValues("stale").Inc()
			l.invalidateHead()
			continue
		case errors.As(err, &refused):
			// The storage named the leaf whose data it cannot hold: it alone
			// fails, and the others are rebuilt without it. Nothing was
			// written, so the head still holds.
			l.metrics.integrations.WithLabelValues("rejected").Inc()
			l.reject(refused.p, refused.reason, refused.err)
			batch = slices.DeleteFunc(slices.Clone(batch), func(p *pending) bool { return p == refused.p })
			if len(batch) == 0 {
				return
			}
			continue
		case errors.Is(err, storage.ErrFrozen):
			// The log was frozen (rotated) under us: nothing was written,
			// and nothing ever will be. Every leaf, of this batch and
			// queued, fails with ErrFrozen, to be added to the log that
			// replaced this one.
			l.metrics.integrations.WithLabelValues("frozen").Inc()
			l.invalidateHead()
			l.cfg.Logger.Info("the log is frozen: it takes no more entries", "origin", l.origin)
			queued := l.freeze()
			for _, p := range append(batch, queued...) {
				p.done <- outcome{err: ErrFrozen}
			}
			return
		case errors.Is(err, storage.ErrRejected), errors.Is(err, storage.ErrEntryRejected):
			// The database refused the batch's data without saying whose.
			// Each half is integrated as a batch of its own, and so on down
			// to the leaf at fault: a bad leaf costs two transactions per
			// level of halving, and the good ones commit.
			l.metrics.integrations.WithLabelValues("rejected").Inc()
			if len(batch) == 1 {
				l.reject(batch[0], "the database refused its data (the server log has the details)", err)
				return
			}
			half := len(batch) / 2
			l.commit(ctx, start, batch[:half])
			l.commit(ctx, start, batch[half:])
			return
		default:
			l.metrics.integrations.WithLabelValues("error").Inc()
			// The state of the store is unknown (it may even have committed):
			// reload before the next batch. Nothing is acknowledged.
			l.invalidateHead()
			l.cfg.Logger.Error("integration failed", "err", err, "batch", len(batch), "attempts", attempt)
			for _, p := range batch {
				p.done <- outcome{err: fmt.Errorf("log: integrating: %w", err)}
			}
			return
		}
	}
}

// Freeze makes the log take no more leaves, as when its storage refuses an
// append because the log is frozen: Add fails with ErrFrozen from now on,
// and so do the leaves queued (a batch being integrated meets the frozen
// storage and fails the same way). For a log its storage has frozen.
func (l *Log) Freeze() {
	for _, p := range l.freeze() {
		p.done <- outcome{err: ErrFrozen}
	}
}

// freeze marks the log frozen and takes every queued leaf off the queue.
func (l *Log) freeze() []*pending {
	l.qMu.Lock()
	defer l.qMu.Unlock()
	l.frozen = true
	queued := l.queue
	l.queue = nil
	l.metrics.pending.Set(0)
	return queued
}

// refusedEntry is integrateOnce's error when the storage named the leaf whose
// data it cannot hold (a *storage.EntryError).
type refusedEntry struct {
	p      *pending
	reason string
	err    error
}

func (r *refusedEntry) Error() string { return r.err.Error() }
func (r *refusedEntry) Unwrap() error { return r.err }

// reject answers p's waiter: the storage cannot hold its data.
func (l *Log) reject(p *pending, reason string, err error) {
	l.metrics.rejected.Inc()
	l.cfg.Logger.Warn("entry refused: the storage cannot hold its data", "leafHash", hex.EncodeToString(p.hash[:]), "err", err)
	p.done <- outcome{err: &RejectedError{Reason: reason, Err: err}}
}

// lookupAfterDuplicate is how long, after the store refused a batch for a
// stored leaf, batches look their leaves up before appending.
const lookupAfterDuplicate = 30 * time.Second

// errDuplicate is integrateOnce's error when the store refused the batch
// because one of its leaves is stored (storage.ErrDuplicate).
var errDuplicate = errors.New("a leaf of the batch is stored")

// integrateOnce builds the batch on the current head and appends it.
func (l *Log) integrateOnce(ctx context.Context, batch []*pending) ([]outcome, error) {
	p := &prepared{batch: batch, ctx: ctx}
	head, edge, err := l.writeHead(ctx)
	if err != nil {
		return nil, err
	}
	if l.prepare(p, head, edge); p.err != nil {
		return nil, p.err
	}
	if err := l.appendPrepared(p); err != nil {
		return nil, err
	}
	return l.finish(p), nil
}

// prepare builds p's batch on head, whose right-edge tiles this process
// knows are edge (nil: read them from storage): the new entries with their
// indexes and SETs, the tiles they make and the signed checkpoint, into
// p.req; or the failure into p.err.
//
// The duplicate check is optimistic. A batch is appended without looking
// its leaves up first: the store refuses a batch holding a stored leaf hash
// (storage.ErrDuplicate), writing nothing, and the batch is rebuilt, this
// time with the lookup, which finds every stored leaf and the entry it
// repeats. Duplicates are rare (a client retrying an upload that did
// commit), so almost every batch saves the lookup's round trip. After a
// refusal, batches look up first for lookupAfterDuplicate, so that a stream
// of duplicates costs one refused append, not one per batch.
func (l *Log) prepare(p *prepared, head storage.TreeState, edge map[tileKey][]byte) {
	ctx, batch := p.ctx, p.batch
	var existing map[merkle.Hash]storage.LeafLocation
	if l.cfg.Now().Before(l.lookupUntil) {
		hashes := make([]merkle.Hash, len(batch))
		for i, p := range batch {
			hashes[i] = p.hash
		}
		var err error
		if existing, err = l.lookup(ctx, hashes); err != nil {
			p.err = fmt.Errorf("looking up duplicates: %w", err)
			return
		}
	}

	outs := make([]outcome, len(batch))
	now := l.cfg.Now().Unix()
	next := head.Size
	seen := make(map[merkle.Hash]uint64, len(batch))
	entries := make([]storage.Entry, 0, len(batch))
	owners := make([]*pending, 0, len(batch)) // owners[i] sent entries[i]
	leaves := make([]merkle.Hash, 0, len(batch))
	for i, p := range batch {
		if at, ok := existing[p.hash]; ok {
			outs[i].err = &DuplicateError{LeafHash: p.hash, TreeID: at.TreeID, Index: at.Index}
			continue
		}
		if idx, ok := seen[p.hash]; ok {
			outs[i].err = &DuplicateError{LeafHash: p.hash, TreeID: l.treeID, Index: idx}
			continue
		}
		seen[p.hash] = next
		entries = append(entries, storage.Entry{
			Index:          next,
			LeafHash:       p.hash,
			Body:           p.leaf.Body,
			IntegratedTime: now,
			Attestation:    p.leaf.Attestation,
			SearchKeys:     p.leaf.SearchKeys,
		})
		owners = append(owners, p)
		leaves = append(leaves, p.hash)
		next++
	}
	p.outs, p.entries, p.owners = outs, entries, owners
	if len(entries) == 0 {
		return
	}
	// The tiles and the checkpoint, and the bodies as the storage keeps
	// them, do not depend on the SETs: they are made on other goroutines
	// while the entries are signed, so a batch of one entry waits for one
	// signature, not two and an encoding.
	if edge == nil {
		edge = map[tileKey][]byte{}
	}
	var (
		tiles   []merkle.Tile
		root    merkle.Hash
		cp      []byte
		tErr    error
		tree    = make(chan struct{})
		encoded = make(chan struct{})
	)
	go func() {
		defer close(encoded)
		l.caches.codec.EncodeEntries(entries) // sets Stored; the signing sets SET
	}()
	go func() {
		defer close(tree)
		reader := l.appendReader(head.Size, edge)
		if tiles, root, tErr = merkle.Append(ctx, reader, head.Size, leaves); tErr != nil {
			tErr = fmt.Errorf("extending tiles: %w", tErr)
			return
		}
		cp, tErr = l.signCheckpoint(l.origin, next, root)
	}()
	var sErr error
	if sign := l.profile.SignEntry; sign != nil {
		sErr = signEntries(sign, l.signer, l.logID, entries, runtime.GOMAXPROCS(0))
	}
	<-tree
	<-encoded
	if p.err = cmp.Or(sErr, tErr); p.err != nil {
		return
	}
	stiles := make([]storage.Tile, len(tiles))
	for i, t := range tiles {
		stiles[i] = storage.Tile(t)
	}
	p.tiles, p.base = tiles, edge
	p.req = storage.AppendRequest{
		OldSize: head.Size,
		Entries: entries,
		Tiles:   stiles,
		State:   storage.TreeState{TreeID: l.treeID, Size: next, Root: root, Checkpoint: cp},
	}
}

// appendPrepared stores p's batch (nothing when all its leaves were
// duplicates), mapping the storage's refusals onto what settle acts on.
func (l *Log) appendPrepared(p *prepared) error {
	if len(p.entries) == 0 {
		return nil
	}
	err := l.store.Append(p.ctx, p.req)
	if err == nil {
		return nil
	}
	var entryErr *storage.EntryError
	switch {
	case errors.Is(err, storage.ErrDuplicate):
		// A leaf of the batch is stored (or appeared after our lookup,
		// written by another process). Rebuild with the lookup.
		return fmt.Errorf("%w: %w", errDuplicate, err)
	case errors.As(err, &entryErr) && entryErr.Index-p.req.OldSize < uint64(len(p.owners)):
		// (Unsigned: an index below the head wraps past the bound. An
		// index not of this batch is a driver's bug; commit then
		// treats the error as a refusal of unknown data.)
		return &refusedEntry{p: p.owners[entryErr.Index-p.req.OldSize], reason: fmt.Sprint(entryErr.Err), err: err}
	}
	return err
}

// finish records the head p's append committed and returns the outcome of
// every leaf of its batch.
func (l *Log) finish(p *prepared) []outcome {
	if len(p.entries) == 0 {
		return p.outs
	}
	l.metrics.batchSize.Observe(float64(len(p.entries)))
	l.metrics.treeSize.Set(float64(p.req.State.Size))
	l.setHead(p.req.State, p.tiles, p.base)
	l.caches.entries.addAll(l.treeID, p.entries)
	for _, t := range p.tiles { // full now, its entries in the entry cache
		if t.Level == 0 && len(t.Hashes) == merkle.TileWidth*merkle.HashSize {
			l.queueFill(t.Index, false)
		}
	}
	j := 0
	for i := range p.outs {
		if p.outs[i].err == nil {
			p.outs[i].res = Result{Entry: p.entries[j], Head: p.req.State}
			j++
		}
	}
	return p.outs
}

// lookup finds the leaves already stored: in every log of the set with
// Config.Locate, else in this log.
func (l *Log) lookup(ctx context.Context, hashes []merkle.Hash) (map[merkle.Hash]storage.LeafLocation, error) {
	if l.cfg.Locate != nil {
		return l.cfg.Locate(ctx, hashes)
	}
	found, err := l.store.LookupLeafHashes(ctx, hashes)
	if err != nil {
		return nil, err
	}
	at := make(map[merkle.Hash]storage.LeafLocation, len(found))
	for h, idx := range found {
		at[h] = storage.LeafLocation{TreeID: l.treeID, Index: idx}
	}
	return at, nil
}

// signEntries signs each entry with the profile's sign (over its body,
// integrated time, the log ID and its index) into entry.SET. The signatures
// are the integrator's main CPU cost, so a batch of several entries is split
// into contiguous runs signed on up to workers goroutines (the caller's own
// included; the integrator passes GOMAXPROCS); sign and the signer are safe
// for concurrent use. Each SET is what a serial signing would give (an ECDSA
// signature is randomized either way). On failure the error of the first
// failing entry, in batch order, is returned; nothing is stored or
// acknowledged before the batch commits, so a failed signing only fails the
// batch.
func signEntries(signEntry EntrySigner, s signer.Signer, logID [32]byte, entries []storage.Entry, workers int) error {
	sign := func(e *storage.Entry) error {
		set, err := signEntry(s, e.Body, e.IntegratedTime, logID, e.Index)
		if err != nil {
			return fmt.Errorf("signing entry timestamp: %w", err)
		}
		e.SET = set
		return nil
	}
	signRun := func(run []storage.Entry) error {
		for i := range run {
			if err := sign(&run[i]); err != nil {
				return err
			}
		}
		return nil
	}
	workers = min(workers, len(entries))
	if workers <= 1 {
		return signRun(entries)
	}
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		run := entries[w*len(entries)/workers : (w+1)*len(entries)/workers]
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = signRun(run)
		}()
	}
	// The first run on this goroutine.
	errs[0] = signRun(entries[:len(entries)/workers])
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
