package postgres_test

import (
	"context"
	"database/sql"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tabularium/tabula/internal/pgtest"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/storage/postgres"
	"github.com/tabularium/tabula/storage/storagetest"
)

func open(t testing.TB, url string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// active is the store's active log of the conformance suite's profile.
func active(s *postgres.Store) storage.Storage { return storage.Active(s, "test", nil) }

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) (storage.Storage, func(*testing.T) storage.Storage) {
		url := pgtest.NewDatabase(t)
		return active(open(t, url)), func(t *testing.T) storage.Storage { return active(open(t, url)) }
	})
}

func TestLogSetConformance(t *testing.T) {
	storagetest.RunLogSet(t, func(t *testing.T) (storage.LogSet, func(*testing.T, int64)) {
		url := pgtest.NewDatabase(t)
		return open(t, url), func(t *testing.T, treeID int64) {
			db, err := sql.Open("pgx", url)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(storagetest.FreezeSQL("$1"), treeID); err != nil {
				t.Fatalf("freeze log %d: %v", treeID, err)
			}
		}
	})
}

// TestConcurrentOpen starts several processes' worth of Opens on one fresh
// database at once: the migration lock must let exactly one create the
// schema and the others find it done.
func TestConcurrentOpen(t *testing.T) {
	url := pgtest.NewDatabase(t)
	const n = 6
	stores := make([]*postgres.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = postgres.Open(context.Background(), url, postgres.WithMaxConns(2)) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	if err := active(stores[0]).CreateTree(context.Background(), storage.TreeState{TreeID: 1}); err != nil {
		t.Fatalf("CreateTree: %v", err)
	}
	for i, s := range stores {
		if _, err := active(s).LatestTreeState(context.Background()); err != nil {
			t.Errorf("store %d: LatestTreeState: %v", i, err)
		}
	}
}

// TestUnreachable checks that Open fails, within its context, when no
// server listens.
func TestUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	_, err := postgres.Open(ctx, "postgres://postgres@127.0.0.1:1/none?sslmode=disable")
	if err == nil {
		t.Fatal("Open of an unreachable server succeeded")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Open took %v to fail", d)
	}
}

// TestPingServerDown runs a store through a TCP proxy, then makes the proxy
// a black hole (connections accepted, never answered; open ones cut):
// Ping must fail within its context.
func TestPingServerDown(t *testing.T) {
	u, err := url.Parse(pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	p := newProxy(t, u.Host)
	u.Host = p.addr()
	q := u.Query()
	q.Set("connect_timeout", "2") // seconds; DefaultConnectTimeout when unset
	u.RawQuery = q.Encode()
	s := open(t, u.String())
	defer s.Close()
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping through the proxy: %v", err)
	}

	p.down()
	for _, timeout := range []time.Duration{200 * time.Millisecond, time.Second} {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		start := time.Now()
		err := s.Ping(ctx)
		cancel()
		if err == nil {
			t.Fatal("Ping of a server that is down succeeded")
		}
		if d := time.Since(start); d > timeout+time.Second {
			t.Errorf("Ping(ctx with %v timeout) took %v to fail", timeout, d)
		}
	}
	// Without a deadline, the connect timeout bounds it.
	start := time.Now()
	if err := s.Ping(context.Background()); err == nil {
		t.Fatal("Ping of a server that is down succeeded")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Ping without a deadline took %v to fail", d)
	}

	// Back up: the store recovers by itself (and Close does not wait for
	// pgx's cancel requests to the black hole to time out).
	p.up()
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping after the server came back: %v", err)
	}
}

// proxy forwards TCP connections to a server until down, after which it
// cuts them and leaves new ones hanging.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	isDown bool
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			c.Close()
		}
	})
	go p.serve()
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns = append(p.conns, c)
		down := p.isDown
		p.mu.Unlock()
		if down {
			continue // hold it open, answer nothing
		}
		go p.forward(c)
	}
}

func (p *proxy) forward(c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, s)
	p.mu.Unlock()
	go func() { io.Copy(s, c); s.Close() }()
	io.Copy(c, s)
	c.Close()
}

// down cuts every connection and leaves new ones unanswered.
func (p *proxy) down() { p.set(true) }

// up cuts every connection (the unanswered ones too) and forwards new ones.
func (p *proxy) up() { p.set(false) }

func (p *proxy) set(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.isDown = down
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func TestOpenBadURL(t *testing.T) {
	for _, url := range []string{"postgres://user:s3cret@[::1", "postgres://user:s3cret@127.0.0.1:5432/x?sslmode=bogus", "mysql://x"} {
		s, err := postgres.Open(context.Background(), url, nil)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", url)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open(%q) = %v: the error shows the password", url, err)
		}
	}
}

func BenchmarkAppend(b *testing.B) {
	storagetest.BenchmarkAppend(b, func(b *testing.B) storage.Storage {
		return active(open(b, pgtest.NewDatabase(b)))
	})
}

func TestWitnessStateConformance(t *testing.T) {
	storagetest.RunWitnessState(t, func(t *testing.T) (storage.WitnessState, func(*testing.T) storage.WitnessState) {
		url := pgtest.NewDatabase(t)
		s := open(t, url)
		t.Cleanup(func() { s.Close() })
		return s, func(t *testing.T) storage.WitnessState {
			o := open(t, url)
			t.Cleanup(func() { o.Close() })
			return o
		}
	})
}
