package submit_test

import (
	"crypto/ed25519"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/witness"
	"github.com/tabularium/tabula/witness/policy"
	"github.com/tabularium/tabula/witness/submit"
)

// TestTabulaWitnesses: the submitter against two in-process `tabula
// witness` doors (package witness), each with its own database, under a
// 2-of-2 policy, on both engines. One witness stops for a while, then
// comes back as a new process on its database and catches up through a
// 409 and a consistency proof; the checkpoint stored meets the policy
// with the log's key, as a verifier checks it.
func TestTabulaWitnesses(t *testing.T) {
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			set := e.Database(t)(t)
			f := newFixture(t, set, 0)
			type door struct {
				name  string
				state storage.WitnessState
				key   ed25519.PrivateKey
				srv   *httptest.Server
			}
			start := func(d *door) {
				s, err := checkpoint.NewCosignatureSigner(d.name, d.key, time.Now)
				if err != nil {
					t.Fatal(err)
				}
				w, err := witness.New(witness.Config{
					Signer: s, State: d.state,
					Logs: []witness.Log{{Origin: f.log.Origin(), Verifiers: []note.Verifier{f.logV}}},
				})
				if err != nil {
					t.Fatal(err)
				}
				d.srv = httptest.NewServer(w.Handler())
				t.Cleanup(d.srv.Close)
			}
			var doors []*door
			var text strings.Builder
			for i := range 2 {
				_, key, err := ed25519.GenerateKey(nil)
				if err != nil {
					t.Fatal(err)
				}
				st, ok := e.Database(t)(t).(storage.WitnessState)
				if !ok {
					t.Fatal("the store is no storage.WitnessState")
				}
				d := &door{name: fmt.Sprintf("tw%d.example", i+1), state: st, key: key}
				start(d)
				doors = append(doors, d)
				fmt.Fprintf(&text, "witness %s %s %s\n", d.name, checkpoint.CosignatureVKey(d.name, key.Public().(ed25519.PublicKey)), d.srv.URL)
			}
			text.WriteString("group both all tw1.example tw2.example\nquorum both\n")
			p, err := policy.Parse([]byte(text.String()))
			if err != nil {
				t.Fatal(err)
			}
			reg := prometheus.NewRegistry()
			f.metrics = submit.NewMetrics(reg)
			s, stop := f.start(t, set, p, "a")
			size := f.add(t, 4)
			wait(t, s, size)
			stop()

			// tw2 stops; the log grows, cosigned by tw1 alone under a
			// 1-of-2 policy.
			doors[1].srv.Close()
			anyOf := strings.Replace(text.String(), "group both all", "group both any", 1)
			p1, err := policy.Parse([]byte(anyOf))
			if err != nil {
				t.Fatal(err)
			}
			s1, stop := f.start(t, set, p1, "b")
			size = f.add(t, 5)
			wait(t, s1, size)
			stop()

			// tw2 comes back (a new process on its database, at another
			// URL); under 2 of 2, a new submitter, which guesses tw2 holds
			// the stored size, learns from its 409 that it holds 4 and
			// proves consistency from there.
			start(doors[1])
			oldURL := strings.Fields(strings.Split(text.String(), "\n")[1])[3]
			text2 := strings.Replace(text.String(), oldURL, doors[1].srv.URL, 1)
			p2, err := policy.Parse([]byte(text2))
			if err != nil {
				t.Fatal(err)
			}
			size = f.add(t, 4)
			s2, _ := f.start(t, set, p2, "c")
			cp := wait(t, s2, size)
			if cp.Size != size {
				t.Fatalf("cosigned %d, want %d", cp.Size, size)
			}
			if n := counter(t, reg, "tw2.example", "conflict"); n == 0 {
				t.Error("no 409 from tw2")
			}
			if n := counter(t, reg, "tw1.example", "conflict"); n != 0 {
				t.Errorf("%v 409s from tw1, which held the stored size", n)
			}
			// What a verifier does: the policy with the log's key meets it.
			pr := f.log.Profile()
			vkey, err := checkpoint.VKey(pr.KeyName, pr.KeyIDForm, f.log.Signer().Public())
			if err != nil {
				t.Fatal(err)
			}
			withLog, err := policy.Parse([]byte("log " + vkey + "\n" + text2))
			if err != nil {
				t.Fatal(err)
			}
			if r, err := withLog.Verify(cp.Note); err != nil || len(r.Cosignatures) != 2 {
				t.Fatalf("the cosigned checkpoint does not meet the policy: %v\n%s", err, cp.Note)
			}
			st := s2.Status()
			for _, w := range st.Witnesses {
				if w.Size != size || w.LastError != "" {
					t.Errorf("witness %s: %+v", w.Name, w)
				}
			}
		})
	}
}

// counter is the submissions counter of witness and outcome.
func counter(t *testing.T, reg *prometheus.Registry, witness, outcome string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != "tabula_witness_submissions_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["witness"] == witness && labels["outcome"] == outcome {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}
