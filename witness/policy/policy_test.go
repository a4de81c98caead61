package policy_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/witness/policy"
)

const body = "example.com/log\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"

// logKey is the Ed25519 signer and vkey of the log example.com/log.
func logKey(t testing.TB, seed byte) (note.Signer, string) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{seed}, 32)), "example.com/log")
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s, vkey
}

// witnessKey is the cosigner witness<i>.example/w with the seed i.
func witnessKey(t testing.TB, i byte) (*checkpoint.CosignatureSigner, string) {
	t.Helper()
	name := fmt.Sprintf("witness%d.example/w", i)
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{i}, 32))
	s, err := checkpoint.NewCosignatureSigner(name, key, func() time.Time { return time.Unix(1700000000+int64(i), 0) })
	if err != nil {
		t.Fatal(err)
	}
	return s, checkpoint.CosignatureVKey(name, key.Public().(ed25519.PublicKey))
}

// vkeys substitutes $LOG, $LOG2 and $W1 to $W9 in a policy template.
func vkeys(t testing.TB, tmpl string) string {
	t.Helper()
	_, l := logKey(t, 100)
	_, l2 := logKey(t, 101)
	r := []string{"$LOG2", l2, "$LOG", l}
	for i := byte(1); i <= 9; i++ {
		_, w := witnessKey(t, i)
		r = append(r, fmt.Sprintf("$W%d", i), w)
	}
	return strings.NewReplacer(r...).Replace(tmpl)
}

func TestParse(t *testing.T) {
	_, w1 := witnessKey(t, 1)
	wp := strings.Split(w1, "+")
	for _, tc := range []struct {
		name, policy string
		err          string // substring of the error; "" for success
	}{
		{"spec example", `log $LOG

witness X1 $W1
witness X2 $W2
witness X3 $W3
group X-witnesses 2 X1 X2 X3

witness Y1 $W4
witness Y2 $W5
witness Y3 $W6
group Y-witnesses any Y1 Y2 Y3

group X-and-Y all X-witnesses Y-witnesses
quorum X-and-Y
`, ""},
		{"quorum none only", "quorum none", ""},
		{"comments, blanks, tabs and urls", "  # c\n\t\nlog\t$LOG https://log.example/\n witness  a $W1 https://w.example/ \n# x\nquorum a\n", ""},
		{"no final newline", "witness a $W1\nquorum a", ""},
		{"non-ASCII names", "witness \xe2\x84\xaa $W1\nwitness K $W2\ngroup g all \xe2\x84\xaa K\nquorum g\n", ""},
		{"lines after quorum", "quorum none\nwitness a $W1\n", ""},
		{"empty", "", "no quorum line"},
		{"no quorum", "witness a $W1\n", "no quorum line"},
		{"two quorums", "quorum none\nquorum none\n", "second quorum"},
		{"quorum undefined", "quorum a\n", "not defined above"},
		{"quorum before witness", "quorum a\nwitness a $W1\n", "not defined above"},
		{"quorum two names", "witness a $W1\nquorum a a\n", "want quorum"},
		{"unknown keyword", "witnesses a $W1\nquorum none\n", "unknown keyword"},
		{"keyword case", "Quorum none\n", "unknown keyword"},
		{"CR line ending", "quorum none\r\n", "control character"},
		{"NUL", "quorum none\x00\n", "control character"},
		{"DEL", "# \x7f\nquorum none\n", "control character"},
		{"vertical tab separator", "witness\va $W1\nquorum none\n", "control character"},
		{"log without key", "log\nquorum none\n", "want log"},
		{"log extra field", "log $LOG u x\nquorum none\n", "want log"},
		{"log bad key", "log nonsense\nquorum none\n", "log key"},
		{"log duplicate", "log $LOG\nlog $LOG\nquorum none\n", "duplicate log"},
		{"two logs", "log $LOG\nlog $LOG2\nquorum none\n", ""},
		{"witness short", "witness a\nquorum none\n", "want witness"},
		{"witness long", "witness a $W1 u x\nquorum none\n", "want witness"},
		{"witness named none", "witness none $W1\nquorum none\n", "reserved"},
		{"witness twice", "witness a $W1\nwitness a $W2\nquorum none\n", "defined twice"},
		{"witness duplicate key", "witness a $W1\nwitness b $W1\nquorum none\n", "has the key"},
		{"witness key type 0x01", "witness a $LOG\nquorum none\n", "witness a"},
		{"witness key bad hint", "witness a " + wp[0] + "+00000000+" + wp[2] + "\nquorum none\n", "key hint"},
		{"group no members", "group g all\nquorum none\n", "want group"},
		{"group undefined member", "witness a $W1\ngroup g any a b\nquorum none\n", "not defined above"},
		{"group member none", "witness a $W1\ngroup g any a none\nquorum none\n", "not defined above"},
		{"group member twice", "witness a $W1\ngroup g any a a\nquorum none\n", "listed twice"},
		{"group self", "witness a $W1\ngroup g any a g\nquorum none\n", "not defined above"},
		{"group named like witness", "witness a $W1\ngroup a any a\nquorum none\n", "defined twice"},
		{"group named none", "witness a $W1\ngroup none any a\nquorum none\n", "reserved"},
		{"threshold 0", "witness a $W1\ngroup g 0 a\nquorum g\n", "threshold"},
		{"threshold > n", "witness a $W1\ngroup g 2 a\nquorum g\n", "threshold"},
		{"threshold leading zero", "witness a $W1\ngroup g 01 a\nquorum g\n", "threshold"},
		{"threshold sign", "witness a $W1\ngroup g +1 a\nquorum g\n", "threshold"},
		{"threshold negative", "witness a $W1\ngroup g -1 a\nquorum g\n", "threshold"},
		{"threshold word", "witness a $W1\ngroup g some a\nquorum g\n", "threshold"},
		{"threshold huge", "witness a $W1\ngroup g 99999999999999999999999 a\nquorum g\n", "threshold"},
		{"threshold 1 of 1", "witness a $W1\ngroup g 1 a\nquorum g\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := policy.Parse([]byte(vkeys(t, tc.policy)))
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("Parse: %v", err)
			case tc.err != "" && err == nil:
				t.Fatalf("Parse succeeded, want an error with %q", tc.err)
			case tc.err != "" && !strings.Contains(err.Error(), tc.err):
				t.Fatalf("Parse: %v, want an error with %q", err, tc.err)
			case err == nil && p == nil:
				t.Fatal("nil policy")
			}
		})
	}
}

// TestParseDuplicateLogKey checks two log lines whose vkeys wrap one key
// under different names are duplicates.
func TestParseDuplicateLogKey(t *testing.T) {
	_, vkey := logKey(t, 100)
	parts := strings.SplitN(vkey, "+", 3)
	renamed := "other.example/log+" + parts[1] + "+" + parts[2]
	if _, err := policy.Parse([]byte("log " + vkey + "\nlog " + renamed + "\nquorum none\n")); err == nil {
		t.Error("accepted two log lines with one key")
	}
}

func TestParseFields(t *testing.T) {
	p, err := policy.Parse([]byte(vkeys(t, "log $LOG https://log.example/\nwitness a $W1 https://w1.example/\nwitness b $W2\nquorum a\n")))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Logs) != 1 || p.Logs[0].URL != "https://log.example/" || p.Logs[0].Verifier.Name() != "example.com/log" {
		t.Errorf("logs %+v", p.Logs)
	}
	if len(p.Witnesses) != 2 || p.Witnesses[0].Name != "a" || p.Witnesses[0].URL != "https://w1.example/" ||
		p.Witnesses[1].URL != "" || p.Witnesses[1].Verifier.Name() != "witness2.example/w" {
		t.Errorf("witnesses %+v", p.Witnesses)
	}
}

func TestParseLimits(t *testing.T) {
	var b strings.Builder
	for i := 0; i <= policy.MaxGroups; i++ {
		fmt.Fprintf(&b, "witness w%d %s\n", i, vkeyN(t, i))
	}
	b.WriteString("quorum none\n")
	if _, err := policy.Parse([]byte(b.String())); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("%d witnesses: %v, want a limit error", policy.MaxWitnesses+1, err)
	}
}

func vkeyN(t testing.TB, i int) string {
	key := ed25519.NewKeyFromSeed(append(bytes.Repeat([]byte{0}, 28), byte(i>>24), byte(i>>16), byte(i>>8), byte(i)))
	return checkpoint.CosignatureVKey(fmt.Sprintf("w%d.example", i), key.Public().(ed25519.PublicKey))
}

// cosign signs body with the log key seed and cosigns it with the given
// witnesses.
func cosign(t testing.TB, logSeed byte, text string, witnesses ...byte) []byte {
	t.Helper()
	ls, _ := logKey(t, logSeed)
	signers := []note.Signer{ls}
	for _, w := range witnesses {
		s, _ := witnessKey(t, w)
		signers = append(signers, s)
	}
	b, err := note.Sign(&note.Note{Text: text}, signers...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const nested = `log $LOG
witness X1 $W1
witness X2 $W2
witness X3 $W3
group X 2 X1 X2 X3
witness Y1 $W4
witness Y2 $W5
witness Y3 $W6
group Y any Y1 Y2 Y3
witness Z $W7
group XY all X Y
group top any XY Z
quorum top
`

func TestVerifyQuorum(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy string
		note   func(t testing.TB) []byte
		err    error // nil, policy.ErrNoQuorum, or errAny for another error
		cosigs int
	}{
		{"none needs no cosignature", "log $LOG\nquorum none\n", func(t testing.TB) []byte { return cosign(t, 100, body) }, nil, 0},
		{"none still counts cosignatures", "log $LOG\nwitness a $W1\nquorum none\n", func(t testing.TB) []byte { return cosign(t, 100, body, 1) }, nil, 1},
		{"single witness met", "log $LOG\nwitness a $W1\nquorum a\n", func(t testing.TB) []byte { return cosign(t, 100, body, 1) }, nil, 1},
		{"single witness missing", "log $LOG\nwitness a $W1\nquorum a\n", func(t testing.TB) []byte { return cosign(t, 100, body, 2) }, policy.ErrNoQuorum, 0},
		{"2 of 3 with 2", nested, func(t testing.TB) []byte { return cosign(t, 100, body, 1, 3, 5) }, nil, 3},
		{"2 of 3 with 1, Y met", nested, func(t testing.TB) []byte { return cosign(t, 100, body, 1, 4, 5, 6) }, policy.ErrNoQuorum, 4},
		{"X met, Y not", nested, func(t testing.TB) []byte { return cosign(t, 100, body, 1, 2, 3) }, policy.ErrNoQuorum, 3},
		{"Z alone", nested, func(t testing.TB) []byte { return cosign(t, 100, body, 7) }, nil, 1},
		{"nothing", nested, func(t testing.TB) []byte { return cosign(t, 100, body) }, policy.ErrNoQuorum, 0},
		{"unknown cosigner ignored", nested, func(t testing.TB) []byte { return cosign(t, 100, body, 8, 9) }, policy.ErrNoQuorum, 0},
		{"second log", "log $LOG\nlog $LOG2\nwitness a $W1\nquorum a\n", func(t testing.TB) []byte { return cosign(t, 101, body, 1) }, nil, 1},
		{"unknown log", "log $LOG\nwitness a $W1\nquorum a\n", func(t testing.TB) []byte { return cosign(t, 101, body, 1) }, errAny, 0},
		{"origin is not the log's key name", "log $LOG\nwitness a $W1\nquorum a\n", func(t testing.TB) []byte {
			return cosign(t, 100, strings.Replace(body, "example.com/log", "example.com/other", 1), 1)
		}, errAny, 0},
		{"Rekor v1 origin of the key name", "log $LOG\nwitness a $W1\nquorum a\n", func(t testing.TB) []byte {
			return cosign(t, 100, strings.Replace(body, "example.com/log", "example.com/log - 1193050959916656506", 1), 1)
		}, nil, 1},
		{"Rekor v1-like origin with a non-numeric tree ID", "log $LOG\nwitness a $W1\nquorum a\n", func(t testing.TB) []byte {
			return cosign(t, 100, strings.Replace(body, "example.com/log", "example.com/log - other", 1), 1)
		}, errAny, 0},
		{"no logs in policy", "witness a $W1\nquorum a\n", func(t testing.TB) []byte { return cosign(t, 100, body, 1) }, errAny, 0},
		{"forged cosignature does not count", "log $LOG\nwitness a $W1\nwitness b $W2\ngroup g all a b\nquorum g\n", func(t testing.TB) []byte {
			return forge(t, cosign(t, 100, body, 1, 2), "witness2.example/w")
		}, policy.ErrNoQuorum, 1},
		{"cosignature of another text does not count", "log $LOG\nwitness a $W1\nquorum a\n", func(t testing.TB) []byte {
			other := cosign(t, 100, strings.Replace(body, "20852163", "20852164", 1), 1)
			line := other[bytes.LastIndex(other, []byte("\n— witness1")):]
			return append(cosign(t, 100, body), line[1:]...)
		}, policy.ErrNoQuorum, 0},
		{"duplicate cosignature counts once", "log $LOG\nwitness a $W1\nwitness b $W2\ngroup g 2 a b\nquorum g\n", func(t testing.TB) []byte {
			b := cosign(t, 100, body, 1)
			return append(b, b[bytes.LastIndex(b[:len(b)-1], []byte("\n"))+1:]...)
		}, policy.ErrNoQuorum, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := policy.Parse([]byte(vkeys(t, tc.policy)))
			if err != nil {
				t.Fatal(err)
			}
			signed := tc.note(t)
			r, err := p.Verify(signed)
			switch {
			case tc.err == nil && err != nil:
				t.Fatalf("Verify: %v", err)
			case tc.err == errAny && (err == nil || errors.Is(err, policy.ErrNoQuorum)):
				t.Fatalf("Verify: %v, want an error other than no quorum", err)
			case tc.err == policy.ErrNoQuorum && !errors.Is(err, policy.ErrNoQuorum):
				t.Fatalf("Verify: %v, want ErrNoQuorum", err)
			}
			if tc.err != errAny {
				if r == nil || len(r.Cosignatures) != tc.cosigs {
					t.Fatalf("result %+v, want %d cosignatures", r, tc.cosigs)
				}
				if text, _, _ := bytes.Cut(signed, []byte("\n\n")); r.Note.Text != string(text)+"\n" || r.Log < 0 {
					t.Errorf("result note %q, log %d", r.Note.Text, r.Log)
				}
				for _, c := range r.Cosignatures {
					name := p.Witnesses[c.Witness].Verifier.Name()
					var i int
					fmt.Sscanf(name, "witness%d.example/w", &i)
					if c.Time.Unix() != 1700000000+int64(i) {
						t.Errorf("cosignature of %s at %v", name, c.Time)
					}
				}
			}
		})
	}
}

var errAny = errors.New("any error")

// forge flips a bit in the signature of the line by name in b.
func forge(t testing.TB, b []byte, name string) []byte {
	t.Helper()
	i := bytes.Index(b, []byte("— "+name+" "))
	if i < 0 {
		t.Fatalf("no line by %s", name)
	}
	j := i + len("— "+name+" ") + 30 // inside the Ed25519 signature's base64
	b = bytes.Clone(b)
	if b[j] == 'A' {
		b[j] = 'B'
	} else {
		b[j] = 'A'
	}
	return b
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(vkeys(f, nested)))
	f.Add([]byte("quorum none\n"))
	f.Add([]byte(vkeys(f, "witness a $W1\ngroup g 1 a\nquorum g")))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := policy.Parse(b)
		if err != nil {
			return
		}
		if len(p.Logs) > policy.MaxLogs || len(p.Witnesses) > policy.MaxWitnesses {
			t.Fatalf("over the limits: %d logs, %d witnesses", len(p.Logs), len(p.Witnesses))
		}
		all := map[int]bool{}
		for i := range p.Witnesses {
			all[i] = true
		}
		if !p.Quorum(all) {
			t.Fatal("every witness cosigning does not meet the quorum")
		}
	})
}

func TestOriginOfKey(t *testing.T) {
	for _, tc := range []struct {
		origin, name string
		want         bool
	}{
		{"example.com/log", "example.com/log", true},
		{"rekor.sigstore.dev - 1193050959916656506", "rekor.sigstore.dev", true},
		{"rekor.sigstore.dev - ", "rekor.sigstore.dev", false},
		{"rekor.sigstore.dev - 12a", "rekor.sigstore.dev", false},
		{"rekor.sigstore.dev - -1", "rekor.sigstore.dev", false},
		{"rekor.sigstore.dev.evil - 1", "rekor.sigstore.dev", false},
		{"rekor.sigstore.dev", "rekor.sigstore.dev - 1", false},
		{"other.example", "example", false},
	} {
		if got := policy.OriginOfKey(tc.origin, tc.name); got != tc.want {
			t.Errorf("OriginOfKey(%q, %q) = %v, want %v", tc.origin, tc.name, got, tc.want)
		}
	}
}
