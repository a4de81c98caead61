package interop

import (
	"bytes"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// goTool is a Sigstore command-line client, built from its released
// module with `go install <pkg>@<version>` (its own go.mod and go.sum, not
// this module's) the first time a test asks for it, into binDir.
type goTool struct {
	pkg     string // import path of the main package
	version string // module version; empty: the one this module requires of module
	module  string // module holding pkg, for version

	once sync.Once
	bin  string
	err  error
	out  []byte
}

var (
	// rekorCLI is rekor-cli from the rekor release the tests' libraries come from.
	rekorCLI = &goTool{pkg: "github.com/sigstore/rekor/cmd/rekor-cli", module: "github.com/sigstore/rekor"}
	// cosignCLI is cosign v3, the newest release that builds with Go 1.26
	// (the README's cosign transcripts).
	cosignCLI = &goTool{pkg: "github.com/sigstore/cosign/v3/cmd/cosign", version: "v3.1.3"}
	// litewitness and witnessctl are the tlog-witness server of
	// filippo.io/torchwood and its log administration command. v0.6.1 is
	// the newest release that builds with Go 1.26 (v0.10.0 needs Go 1.27);
	// scripts/test.sh builds the same version.
	litewitnessCLI = &goTool{pkg: "filippo.io/torchwood/cmd/litewitness", version: torchwoodVersion}
	witnessctlCLI  = &goTool{pkg: "filippo.io/torchwood/cmd/witnessctl", version: torchwoodVersion}
)

const torchwoodVersion = "v0.6.1"

// path builds the tool once and returns its binary.
func (g *goTool) path(t *testing.T) string {
	t.Helper()
	g.once.Do(func() {
		// scripts/test.sh builds the tools ahead, in the background.
		if dir := os.Getenv("TABULA_INTEROP_TOOLS"); dir != "" {
			if bin := filepath.Join(dir, path.Base(g.pkg)); fileIsExecutable(bin) {
				g.bin = bin
				return
			}
		}
		version := g.version
		if version == "" {
			cmd := exec.Command("go", "list", "-m", "-f", "{{.Version}}", g.module)
			cmd.Env = cleanEnv()
			var v []byte
			if v, g.err = cmd.Output(); g.err != nil {
				return
			}
			version = strings.TrimSpace(string(v))
		}
		cmd := exec.Command("go", "install", g.pkg+"@"+version)
		cmd.Env = append(cleanEnv(), "GOBIN="+binDir)
		cmd.Dir = binDir // outside this module: the tool's own go.mod decides
		if g.out, g.err = cmd.CombinedOutput(); g.err == nil {
			g.bin = filepath.Join(binDir, path.Base(g.pkg))
		}
	})
	if g.err != nil {
		t.Fatalf("go install %s: %v\n%s", g.pkg, g.err, g.out)
	}
	return g.bin
}

func fileIsExecutable(name string) bool {
	fi, err := os.Stat(name)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// run runs the tool with args and HOME set to home (where rekor-cli keeps
// the tree heads it saw and cosign its caches); it returns stdout, and
// stderr and the error when it fails.
func (g *goTool) run(t *testing.T, home string, args ...string) (stdout []byte, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(g.path(t), args...)
	cmd.Env = append(cleanEnv(), "HOME="+home)
	var errBuf bytes.Buffer
	cmd.Stderr = &errBuf
	out, err := cmd.Output()
	return out, errBuf.String(), err
}

// mustRun is run that fails the test when the tool fails.
func (g *goTool) mustRun(t *testing.T, home string, args ...string) []byte {
	t.Helper()
	out, stderr, err := g.run(t, home, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", path.Base(g.pkg), strings.Join(args, " "), err, out, stderr)
	}
	return out
}

// writeFile writes b to name in dir and returns its path.
func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
