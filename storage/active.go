package storage

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Active returns the Storage of the set's active log of profile, for a
// program that runs one log: until that log exists, LatestTreeState and
// every read find nothing and Append fails with ErrNotFound, and CreateTree
// creates it (CreateLog with newLog(state), at newLog's StartIndex or after
// every log of the profile, whichever is greater), failing with
// ErrTreeExists if an active log of profile exists.
// Once found or created, the handle stays on that log: it does not follow a
// rotation (LogSet.Rotate), after which its Append fails with ErrFrozen and
// its reads see the frozen log. newLog may be nil:
// the log then gets no origin or public key. Closing the handle closes the
// set.
func Active(set LogSet, profile string, newLog func(TreeState) LogInfo) Storage {
	return &active{set: set, profile: profile, newLog: newLog}
}

type active struct {
	set     LogSet
	profile string
	newLog  func(TreeState) LogInfo

	mu  sync.Mutex                // held while looking the log up
	log atomic.Pointer[logHandle] // nil until found; then never changes
}

// logHandle boxes the found log for the atomic pointer.
type logHandle struct{ Storage }

// resolve returns the active log of the profile, or nil if there is none.
func (a *active) resolve(ctx context.Context) (Storage, error) {
	if h := a.log.Load(); h != nil {
		return h.Storage, nil // every call after the first: no lock
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if h := a.log.Load(); h != nil {
		return h.Storage, nil
	}
	logs, err := a.set.Logs(ctx)
	if err != nil {
		return nil, err
	}
	for _, l := range logs {
		if l.Profile == a.profile && l.State == LogActive {
			s, err := a.set.OpenLog(ctx, l.TreeID)
			if err != nil {
				return nil, err
			}
			a.log.Store(&logHandle{s})
			return s, nil
		}
	}
	return nil, nil
}

func (a *active) CreateTree(ctx context.Context, state TreeState) error {
	if s, err := a.resolve(ctx); err != nil {
		return err
	} else if s != nil {
		return fmt.Errorf("create tree: %w", ErrTreeExists)
	}
	logs, err := a.set.Logs(ctx)
	if err != nil {
		return err
	}
	info := LogInfo{TreeID: state.TreeID, Profile: a.profile}
	if a.newLog != nil {
		info = a.newLog(state)
	}
	info.TreeID, info.Profile, info.State = state.TreeID, a.profile, LogActive
	for _, l := range logs {
		if l.Profile != a.profile {
			continue
		}
		end := l.StartIndex + l.FinalSize
		if l.State == LogActive {
			s, err := a.set.OpenLog(ctx, l.TreeID)
			if err != nil {
				return err
			}
			st, err := s.LatestTreeState(ctx)
			if err != nil {
				return err
			}
			end = l.StartIndex + st.Size
		}
		info.StartIndex = max(info.StartIndex, end)
	}
	err = a.set.CreateLog(ctx, info, state)
	if errors.Is(err, ErrActiveLog) {
		return fmt.Errorf("create tree: %w: %w", ErrTreeExists, err)
	}
	return err
}

func (a *active) LatestTreeState(ctx context.Context) (TreeState, error) {
	s, err := a.resolve(ctx)
	if err != nil {
		return TreeState{}, err
	}
	if s == nil {
		return TreeState{}, fmt.Errorf("no active %s log: %w", a.profile, ErrNotFound)
	}
	return s.LatestTreeState(ctx)
}

func (a *active) Append(ctx context.Context, req AppendRequest) error {
	s, err := a.resolve(ctx)
	if err != nil {
		return err
	}
	if s == nil {
		return fmt.Errorf("append: no active %s log: %w", a.profile, ErrNotFound)
	}
	return s.Append(ctx, req)
}

func (a *active) LookupLeafHashes(ctx context.Context, hashes []Hash) (map[Hash]uint64, error) {
	s, err := a.resolve(ctx)
	if err != nil || s == nil {
		return map[Hash]uint64{}, err
	}
	return s.LookupLeafHashes(ctx, hashes)
}

func (a *active) ReadEntries(ctx context.Context, start, end uint64) ([]Entry, error) {
	s, err := a.resolve(ctx)
	if err != nil || s == nil {
		return nil, err
	}
	return s.ReadEntries(ctx, start, end)
}

func (a *active) ReadEntryByLeafHash(ctx context.Context, hash Hash) (Entry, error) {
	s, err := a.resolve(ctx)
	if err != nil {
		return Entry{}, err
	}
	if s == nil {
		return Entry{}, fmt.Errorf("read entry %x: %w", hash, ErrNotFound)
	}
	return s.ReadEntryByLeafHash(ctx, hash)
}

func (a *active) ReadTile(ctx context.Context, level uint8, index uint64) ([]byte, error) {
	s, err := a.resolve(ctx)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, fmt.Errorf("read tile %d/%d: %w", level, index, ErrNotFound)
	}
	return s.ReadTile(ctx, level, index)
}

func (a *active) Search(ctx context.Context, key Hash) ([]uint64, error) {
	s, err := a.resolve(ctx)
	if err != nil || s == nil {
		return nil, err
	}
	return s.Search(ctx, key)
}

func (a *active) Ping(ctx context.Context) error { return a.set.Ping(ctx) }

func (a *active) Close() error { return a.set.Close() }

// ReadEntryAndTile reads through the active log (see the package function
// ReadEntryAndTile).
func (a *active) ReadEntryAndTile(ctx context.Context, index uint64) (Entry, EntryTile, error) {
	s, err := a.resolve(ctx)
	if err != nil {
		return Entry{}, EntryTile{}, err
	}
	if s == nil {
		return Entry{}, EntryTile{}, fmt.Errorf("read entry %d: %w", index, ErrNotFound)
	}
	return ReadEntryAndTile(ctx, s, index)
}
