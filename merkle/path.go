package merkle

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// TilePath is the C2SP tlog-tiles coordinate of a Merkle tile
// (tile/<L>/<N>[.p/<W>]) or of an entry bundle (tile/entries/<N>[.p/<W>]).
type TilePath struct {
	Entries bool   // an entry bundle; Level is then unused and zero
	Level   uint8  // tile level, 0..63
	Index   uint64 // tile index N within the level
	Width   int    // 1..255 for a partial tile, 256 for a full one
}

// String returns the path, for example "tile/1/x001/x234/067.p/112". A Width
// outside 1..255 is written as a full tile.
func (p TilePath) String() string {
	b := make([]byte, 0, 48)
	b = append(b, "tile/"...)
	if p.Entries {
		b = append(b, "entries"...)
	} else {
		b = strconv.AppendUint(b, uint64(p.Level), 10)
	}
	b = append(b, '/')
	b = appendTileIndex(b, p.Index)
	if p.Width > 0 && p.Width < TileWidth {
		b = append(b, ".p/"...)
		b = strconv.AppendInt(b, int64(p.Width), 10)
	}
	return string(b)
}

// appendTileIndex writes n as 3-digit groups, all but the last prefixed
// with "x": 1234067 → x001/x234/067.
func appendTileIndex(b []byte, n uint64) []byte {
	var groups [7]uint16 // 2^64 < 1000^7
	i := len(groups)
	for {
		i--
		groups[i] = uint16(n % 1000)
		n /= 1000
		if n == 0 {
			break
		}
	}
	for ; i < len(groups); i++ {
		g := groups[i]
		if i < len(groups)-1 {
			b = append(b, 'x')
		}
		b = append(b, byte('0'+g/100), byte('0'+g/10%10), byte('0'+g%10))
		if i < len(groups)-1 {
			b = append(b, '/')
		}
	}
	return b
}

// ErrInvalidTilePath is wrapped by every error from [ParseTilePath].
var ErrInvalidTilePath = errors.New("merkle: invalid tile path")

// ParseTilePath parses a tile or entry-bundle path. It is strict and accepts
// only the canonical form [TilePath.String] produces: level 0..63 without
// leading zeros, every index group exactly three digits with an "x" on all
// but the last and no leading all-zero group, width 1..255 without leading
// zeros, and nothing after the width.
func ParseTilePath(path string) (TilePath, error) {
	p, why := parseTilePath(path)
	if why != "" {
		return TilePath{}, fmt.Errorf("%w %q: %s", ErrInvalidTilePath, path, why)
	}
	return p, nil
}

func parseTilePath(path string) (TilePath, string) {
	rest, ok := strings.CutPrefix(path, "tile/")
	if !ok {
		return TilePath{}, `missing "tile/" prefix`
	}
	p := TilePath{Width: TileWidth}
	if r, ok := strings.CutPrefix(rest, "entries/"); ok {
		p.Entries = true
		rest = r
	} else {
		level, r, ok := strings.Cut(rest, "/")
		if !ok {
			return TilePath{}, "missing tile index"
		}
		l, ok := parseDecimal(level)
		if !ok || l > 63 {
			return TilePath{}, "level must be 0..63 without leading zeros"
		}
		p.Level = uint8(l)
		rest = r
	}
	if index, width, ok := strings.Cut(rest, ".p/"); ok {
		w, ok := parseDecimal(width)
		if !ok || w < 1 || w >= TileWidth {
			return TilePath{}, "partial width must be 1..255 without leading zeros"
		}
		p.Width = int(w)
		rest = index
	}
	groups := strings.Count(rest, "/") + 1
	if groups > 7 {
		return TilePath{}, "tile index too large"
	}
	var n uint64
	for i := 0; i < groups; i++ {
		var g string
		if i < groups-1 {
			g, rest, _ = strings.Cut(rest, "/")
			var ok bool
			if g, ok = strings.CutPrefix(g, "x"); !ok {
				return TilePath{}, `index group without "x" prefix`
			}
		} else {
			g = rest
		}
		if len(g) != 3 || !isDigits(g) {
			return TilePath{}, "index group must be exactly 3 digits"
		}
		v := uint64(g[0]-'0')*100 + uint64(g[1]-'0')*10 + uint64(g[2]-'0')
		if i == 0 && groups > 1 && v == 0 {
			return TilePath{}, "leading index group is zero"
		}
		if n > (math.MaxUint64-v)/1000 {
			return TilePath{}, "tile index too large"
		}
		n = n*1000 + v
	}
	p.Index = n
	return p, ""
}

// parseDecimal parses a canonical decimal (no sign, no leading zeros) of at
// most three digits.
func parseDecimal(s string) (uint64, bool) {
	if len(s) == 0 || len(s) > 3 || !isDigits(s) || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		v = v*10 + uint64(s[i]-'0')
	}
	return v, true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
