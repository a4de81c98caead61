package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// A small JSON reader for the two answers the tool checks on every
// operation (LogEntry and ConsistencyProof). encoding/json spent more CPU in
// the tool than the server spent answering (a full validity scan, then
// reflection); this one reads the answer once, keeps only the fields the
// checks need and skips the rest, with the same rules: the whole answer must
// be valid JSON, strings are unescaped as encoding/json does (invalid UTF-8
// and lone surrogates become U+FFFD), numbers must be int64 integers, and a
// null counts as absent. It is stricter in what no honest server sends: a
// repeated key, or a key that differs from a wanted one only in case (which
// encoding/json would take for it), is refused.

type jsonReader struct {
	b []byte
	i int
}

var errSyntax = errors.New("invalid JSON")

var (
	litTrue  = []byte("true")
	litFalse = []byte("false")
	litNull  = []byte("null")
)

func (r *jsonReader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte (0 at the end).
func (r *jsonReader) peek() byte {
	r.ws()
	if r.i < len(r.b) {
		return r.b[r.i]
	}
	return 0
}

func (r *jsonReader) expect(c byte) error {
	if r.peek() != c {
		return fmt.Errorf("%w: want %q at offset %d", errSyntax, c, r.i)
	}
	r.i++
	return nil
}

// null consumes a null if one is next.
func (r *jsonReader) null() (bool, error) {
	if r.peek() != 'n' {
		return false, nil
	}
	if !bytes.HasPrefix(r.b[r.i:], litNull) {
		return false, fmt.Errorf("%w at offset %d", errSyntax, r.i)
	}
	r.i += 4
	return true, nil
}

// rawString returns the JSON string next, quotes included, validated; plain
// reports that it holds only printable ASCII without escapes, so that its
// content needs no unquoting.
func (r *jsonReader) rawString() (raw []byte, plain bool, err error) {
	if r.peek() != '"' {
		return nil, false, fmt.Errorf("%w: want a string at offset %d", errSyntax, r.i)
	}
	start := r.i
	r.i++
	plain = true
	b := r.b
	for i := r.i; i < len(b); {
		c := b[i]
		if c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\' {
			i++
			continue
		}
		switch {
		case c == '"':
			r.i = i + 1
			return b[start:r.i], plain, nil
		case c < 0x20:
			return nil, false, fmt.Errorf("%w: control character in string at offset %d", errSyntax, i)
		case c == '\\':
			plain = false
			if i+1 >= len(b) {
				return nil, false, errSyntax
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || getu4(b[i:]) < 0 {
					return nil, false, fmt.Errorf("%w: bad \\u escape at offset %d", errSyntax, i)
				}
				i += 6
			default:
				return nil, false, fmt.Errorf("%w: bad escape at offset %d", errSyntax, i)
			}
		default: // not ASCII
			plain = false
			i++
		}
	}
	return nil, false, fmt.Errorf("%w: unterminated string", errSyntax)
}

// str returns the unescaped string next.
func (r *jsonReader) str() (string, error) {
	raw, plain, err := r.rawString()
	if err != nil {
		return "", err
	}
	if plain {
		return string(raw[1 : len(raw)-1]), nil
	}
	return unquote(raw[1 : len(raw)-1]), nil
}

// optString reads a string or null (ok false).
func (r *jsonReader) optString() (s string, ok bool, err error) {
	if isNull, err := r.null(); isNull || err != nil {
		return "", false, err
	}
	s, err = r.str()
	return s, err == nil, err
}

// optStrings reads an array of strings (a null element is "") or null (nil).
func (r *jsonReader) optStrings() ([]string, error) {
	if isNull, err := r.null(); isNull || err != nil {
		return nil, err
	}
	if err := r.expect('['); err != nil {
		return nil, err
	}
	out := make([]string, 0, 32)
	if r.peek() == ']' {
		r.i++
		return out, nil
	}
	for {
		h, _, err := r.optString()
		if err != nil {
			return nil, err
		}
		out = append(out, h)
		switch r.peek() {
		case ',':
			r.i++
		case ']':
			r.i++
			return out, nil
		default:
			return nil, fmt.Errorf("%w: want , or ] at offset %d", errSyntax, r.i)
		}
	}
}

// optInt reads an int64 or null (ok false); as encoding/json into an int64,
// a fraction, an exponent or an overflow is an error.
func (r *jsonReader) optInt() (v int64, ok bool, err error) {
	if isNull, err := r.null(); isNull || err != nil {
		return 0, false, err
	}
	start := r.i
	if err := r.number(); err != nil {
		return 0, false, err
	}
	v, err = strconv.ParseInt(string(r.b[start:r.i]), 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("number %s: want an int64", r.b[start:r.i])
	}
	return v, true, nil
}

// number skips a number, checking the JSON grammar.
func (r *jsonReader) number() error {
	r.ws()
	start := r.i
	digits := func() int {
		n := 0
		for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
			r.i++
			n++
		}
		return n
	}
	if r.i < len(r.b) && r.b[r.i] == '-' {
		r.i++
	}
	if r.i < len(r.b) && r.b[r.i] == '0' {
		r.i++
	} else if digits() == 0 {
		return fmt.Errorf("%w: want a value at offset %d", errSyntax, start)
	}
	if r.i < len(r.b) && r.b[r.i] == '.' {
		r.i++
		if digits() == 0 {
			return fmt.Errorf("%w: bad number at offset %d", errSyntax, start)
		}
	}
	if r.i < len(r.b) && (r.b[r.i] == 'e' || r.b[r.i] == 'E') {
		r.i++
		if r.i < len(r.b) && (r.b[r.i] == '+' || r.b[r.i] == '-') {
			r.i++
		}
		if digits() == 0 {
			return fmt.Errorf("%w: bad number at offset %d", errSyntax, start)
		}
	}
	return nil
}

// skip skips any value, checking its syntax.
func (r *jsonReader) skip() error {
	return r.skipDepth(0)
}

const maxDepth = 1000

func (r *jsonReader) skipDepth(depth int) error {
	if depth > maxDepth {
		return errors.New("JSON nested too deeply")
	}
	switch c := r.peek(); c {
	case '"':
		_, _, err := r.rawString()
		return err
	case '{':
		return r.object(func([]byte) error { return r.skipDepth(depth + 1) })
	case '[':
		return r.array(func() error { return r.skipDepth(depth + 1) })
	case 't', 'f', 'n':
		for _, lit := range [][]byte{litTrue, litFalse, litNull} {
			if bytes.HasPrefix(r.b[r.i:], lit) {
				r.i += len(lit)
				return nil
			}
		}
		return fmt.Errorf("%w at offset %d", errSyntax, r.i)
	default:
		return r.number()
	}
}

// object reads an object, calling field for each key (which must read or
// skip the value). It is for the values the checks do not look into; the
// checked ones are read with [jsonReader.key] in a loop, without closures.
func (r *jsonReader) object(field func(key []byte) error) error {
	var it objectIter
	for {
		key, ok, err := r.key(&it)
		if err != nil || !ok {
			return err
		}
		if err := field(key); err != nil {
			return err
		}
	}
}

// objectIter is the state of reading one object with key.
type objectIter struct {
	started bool
	seen    [8]string // wanted keys read so far
	n       int
}

// key reads the next key of an object and its colon (ok false at the end of
// the object; the first call reads the opening brace).
func (r *jsonReader) key(it *objectIter) (key []byte, ok bool, err error) {
	if !it.started {
		it.started = true
		if err := r.expect('{'); err != nil {
			return nil, false, err
		}
		if r.peek() == '}' {
			r.i++
			return nil, false, nil
		}
	} else {
		switch r.peek() {
		case ',':
			r.i++
		case '}':
			r.i++
			return nil, false, nil
		default:
			return nil, false, fmt.Errorf("%w: want , or } at offset %d", errSyntax, r.i)
		}
	}
	raw, plain, err := r.rawString()
	if err != nil {
		return nil, false, err
	}
	key = raw[1 : len(raw)-1]
	if !plain {
		key = []byte(unquote(key))
	}
	if err := r.expect(':'); err != nil {
		return nil, false, err
	}
	return key, true, nil
}

// want reports whether key is the wanted field name; a repeat of a wanted
// key, or a key equal to it but for case (encoding/json would have taken it
// for the field), is an error.
func (it *objectIter) want(key []byte, name string) (bool, error) {
	if string(key) != name {
		if strings.EqualFold(string(key), name) {
			return false, fmt.Errorf("key %q for %q", key, name)
		}
		return false, nil
	}
	for _, k := range it.seen[:it.n] {
		if k == name {
			return false, fmt.Errorf("repeated key %q", name)
		}
	}
	if it.n < len(it.seen) {
		it.seen[it.n] = name
		it.n++
	}
	return true, nil
}

// array reads an array, calling elem for each element.
func (r *jsonReader) array(elem func() error) error {
	if err := r.expect('['); err != nil {
		return err
	}
	if r.peek() == ']' {
		r.i++
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		switch r.peek() {
		case ',':
			r.i++
		case ']':
			r.i++
			return nil
		default:
			return fmt.Errorf("%w: want , or ] at offset %d", errSyntax, r.i)
		}
	}
}

// end checks that nothing but space follows the value.
func (r *jsonReader) end() error {
	if r.ws(); r.i != len(r.b) {
		return fmt.Errorf("%w: data after the value at offset %d", errSyntax, r.i)
	}
	return nil
}

// getu4 decodes \uXXXX at the start of s, or returns -1.
func getu4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c = c - '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// unquote unescapes the content of a validated JSON string as encoding/json
// does.
func unquote(s []byte) string {
	r := 0
	for r < len(s) {
		c := s[r]
		if c == '\\' {
			break
		}
		if c < utf8.RuneSelf {
			r++
			continue
		}
		rr, size := utf8.DecodeRune(s[r:])
		if rr == utf8.RuneError && size == 1 {
			break
		}
		r += size
	}
	if r == len(s) {
		return string(s)
	}
	b := make([]byte, r, len(s)+utf8.UTFMax)
	copy(b, s[:r])
	for r < len(s) {
		switch c := s[r]; {
		case c == '\\':
			switch s[r+1] {
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				rr := getu4(s[r:])
				r += 6
				if utf16.IsSurrogate(rr) {
					rr1 := getu4(s[r:])
					if dec := utf16.DecodeRune(rr, rr1); dec != unicode.ReplacementChar {
						r += 6
						b = utf8.AppendRune(b, dec)
						continue
					}
					rr = unicode.ReplacementChar
				}
				b = utf8.AppendRune(b, rr)
				continue
			default: // " \ /
				b = append(b, s[r+1])
			}
			r += 2
		case c < utf8.RuneSelf:
			b = append(b, c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			r += size
			b = utf8.AppendRune(b, rr)
		}
	}
	return string(b)
}
