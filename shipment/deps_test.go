package shipment

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies: the domain imports no database, HTTP or queue
// package; outside the standard library it uses only package valid.
func TestDependencies(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("go command not found: %v", err)
	}
	out, err := exec.Command(goBin, "list", "-deps", "-f", "{{.ImportPath}} {{.Standard}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	allowed := map[string]bool{"github.com/shiptrack/shiptrack/shipment": true, "github.com/shiptrack/shiptrack/valid": true}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, std, _ := strings.Cut(line, " ")
		switch {
		case std == "true" && (pkg == "database/sql" || strings.HasPrefix(pkg, "net/http")):
			t.Errorf("shipment depends on %s", pkg)
		case std != "true" && !allowed[pkg]:
			t.Errorf("shipment depends on %s, outside the standard library", pkg)
		}
	}
}
