package interop

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path"
	"strconv"
	"sync"
	"testing"
)

// entryTypesSource is where the tabula binary registers the entry kinds it
// accepts (allEntryTypes).
const entryTypesSource = "../cmd/tabula/entrytypes.go"

var registered = sync.OnceValues(func() (map[string]bool, error) {
	kinds, err := registeredKinds(entryTypesSource)
	if errors.Is(err, fs.ErrNotExist) {
		// Before the registry file existed the server knew hashedrekord only.
		return map[string]bool{"hashedrekord": true}, nil
	}
	return kinds, err
})

// registeredKinds reads the kinds allEntryTypes returns from the source: the
// last path element of every package whose function allEntryTypes calls
// (types/dsse.New() → "dsse").
func registeredKinds(file string) (map[string]bool, error) {
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	pkgs := map[string]string{} // local name → import path
	for _, imp := range f.Imports {
		p, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			return nil, err
		}
		name := path.Base(p)
		if imp.Name != nil {
			name = imp.Name.Name
		}
		pkgs[name] = p
	}
	kinds := map[string]bool{}
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Name.Name != "allEntryTypes" || fn.Body == nil {
			continue
		}
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			if sel, ok := call.Fun.(*ast.SelectorExpr); ok {
				if id, ok := sel.X.(*ast.Ident); ok {
					if p, ok := pkgs[id.Name]; ok {
						kinds[path.Base(p)] = true
					}
				}
			}
			return true
		})
	}
	return kinds, nil
}

// requireKind skips the test while the server does not register kind; once
// it does, the test runs and must pass.
func requireKind(t *testing.T, kind string) {
	t.Helper()
	kinds, err := registered()
	if err != nil {
		t.Fatalf("reading the registered entry kinds: %v", err)
	}
	if !kinds[kind] {
		t.Skipf("%s: not registered in allEntryTypes (cmd/tabula/entrytypes.go) yet", kind)
	}
}

func TestRegisteredKinds(t *testing.T) {
	kinds, err := registered()
	if err != nil {
		t.Fatal(err)
	}
	// hashedrekord is the kind every Sigstore client writes: always there.
	if !kinds["hashedrekord"] {
		t.Fatalf("registered kinds %v: no hashedrekord; has %s changed shape?", kinds, entryTypesSource)
	}
	t.Logf("registered kinds: %v", kinds)
}
