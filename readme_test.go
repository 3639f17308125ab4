package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/shiptrack/shiptrack/internal/testenv"
)

// readmeSection returns the text of the README's "## name" section.
func readmeSection(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n## "+name+"\n")
	if i < 0 {
		t.Fatalf("README has no section %q", name)
	}
	s = s[i+len(name)+5:]
	if j := strings.Index(s, "\n## "); j >= 0 {
		s = s[:j]
	}
	return s
}

// codeAfter returns the first indented code line after the paragraph that
// starts with lead.
func codeAfter(t *testing.T, section, lead string) string {
	t.Helper()
	i := strings.Index(section, lead)
	if i < 0 {
		t.Fatalf("README Set up has no paragraph starting %q", lead)
	}
	m := regexp.MustCompile(`(?m)^    (\S.*)$`).FindStringSubmatch(section[i:])
	if m == nil {
		t.Fatalf("README Set up: no command after %q", lead)
	}
	return m[1]
}

// TestReadmeSetUp: the README's two set-up commands are the ones that
// work on a fresh machine, and CI runs the same test command.
func TestReadmeSetUp(t *testing.T) {
	t.Parallel()
	setUp := readmeSection(t, "Set up")
	for _, c := range []struct{ lead, want string }{
		{"Run the service", "go run ."},
		{"Run the tests", testenv.Command},
	} {
		if got := codeAfter(t, setUp, c.lead); got != c.want {
			t.Errorf("README %q command is %q, want %q", c.lead, got, c.want)
		}
	}
	// The build is not a set-up step: the README has exactly two (run,
	// test); the binary the examples call is built where they start.
	if got := codeAfter(t, readmeSection(t, "Commands"), "Build the binary"); got != "go build -o shiptrack ." {
		t.Errorf("README build command is %q, want %q", got, "go build -o shiptrack .")
	}
	if n := strings.Count(setUp, "\n    "); n != 2 {
		t.Errorf("README Set up has %d indented command lines, want exactly 2 (run, test)", n)
	}
	ci, err := os.ReadFile(".ci/run")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, line := range strings.Split(string(ci), "\n") {
		if strings.TrimSpace(line) == testenv.Command {
			found = true
		}
	}
	if !found {
		t.Errorf(".ci/run does not run the README's test command %q on a line of its own", testenv.Command)
	}
	// The test command must exist and run go test on everything.
	script, err := os.ReadFile(strings.TrimPrefix(testenv.Command, "bash "))
	if err != nil {
		t.Fatalf("the README's test command: %v", err)
	}
	if !strings.Contains(string(script), "-race -count=1 ./...") {
		t.Errorf("%s does not run go test -race -count=1 ./...", testenv.Command)
	}
}
