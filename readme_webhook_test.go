package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shiptrack/shiptrack/webhook"
)

// TestReadmeWebhookVerification compiles the README's verification
// snippet as written and runs it on deliveries signed by webhook.Sign: a
// good one, one during a rotation (two values), a changed body and a
// stale timestamp.
func TestReadmeWebhookVerification(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "## Webhooks")
	if !ok {
		t.Fatal("README has no Webhooks section")
	}
	_, code, ok := strings.Cut(rest, "```go\n")
	code, _, ok2 := strings.Cut(code, "```")
	if !ok || !ok2 || !strings.Contains(code, "func verify(") {
		t.Fatal("the Webhooks section has no Go verify function")
	}
	dir := t.TempDir()
	prog := `package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

` + code + `
func main() {
	body, _ := io.ReadAll(os.Stdin)
	r, _ := http.NewRequest("POST", "http://x/", nil)
	r.Header.Set("Shiptrack-Timestamp", os.Args[2])
	r.Header.Set("Shiptrack-Signature", os.Args[3])
	fmt.Println(verify(os.Args[1], r, body))
}
`
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(prog), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module readmeverify\n\ngo 1.24\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "verify")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("the README's snippet does not compile: %v\n%s", err, out)
	}
	body := `{"id":"dlv_1","type":"shipment.status_changed"}`
	now := time.Now()
	old := now.Add(-time.Hour)
	cases := []struct {
		name, ts, sig, body, want string
	}{
		{"good", unix(now), webhook.Sign("s1", now, []byte(body)), body, "true"},
		{"rotation", unix(now), webhook.Sign("s0", now, []byte(body)) + "," + webhook.Sign("s1", now, []byte(body)), body, "true"},
		{"other secret", unix(now), webhook.Sign("s2", now, []byte(body)), body, "false"},
		{"changed body", unix(now), webhook.Sign("s1", now, []byte(body)), body + " ", "false"},
		{"stale", unix(old), webhook.Sign("s1", old, []byte(body)), body, "false"},
	}
	for _, c := range cases {
		cmd := exec.Command(bin, "s1", c.ts, c.sig)
		cmd.Stdin = strings.NewReader(c.body)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := strings.TrimSpace(string(out)); got != c.want {
			t.Errorf("%s: the README's verify says %s, want %s", c.name, got, c.want)
		}
	}
}

func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }
