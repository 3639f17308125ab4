// Package testenv is how tests meet a missing outside service
// (PostgreSQL, Redis, Chromium, musl-gcc, PostgreSQL's and Redis's server
// binaries): one line naming the command that sets everything up. Under
// plain `go test` the test is skipped with that line; in CI (CI=true) a
// missing service fails the test, so CI can never pass by skipping.
package testenv

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Command is the README's test command: it installs and starts what the
// tests need, then runs them. .ci/run calls it too.
const Command = "bash .ci/test"

// InCI reports whether the tests run in CI, where nothing may be skipped.
func InCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v == "true" || v == "1"
}

// Missing stops t because what is not available: a skip naming Command,
// or a failure in CI.
func Missing(t testing.TB, what string, err error) {
	t.Helper()
	msg := what + " is not available"
	if err != nil {
		msg += " (" + oneLine(err.Error()) + ")"
	}
	msg += "; run `" + Command + "`, which installs and starts what the tests need"
	if InCI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// Chromium returns the path of Debian's Chromium, which the browser tests
// drive.
func Chromium(t testing.TB) string {
	t.Helper()
	const path = "/usr/bin/chromium"
	if _, err := os.Stat(path); err != nil {
		Missing(t, "Chromium at "+path, err)
	}
	return path
}

// Binaries requires every named program on PATH (musl-gcc for the static
// release build, initdb and redis-server for throwaway servers).
func Binaries(t testing.TB, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, err := exec.LookPath(name); err != nil {
			Missing(t, name, err)
		}
	}
}

// DatabaseURL is the PostgreSQL server tests create their databases on
// (an admin URL): $SHIPTRACK_TEST_DATABASE_URL, or the older
// $SHIPTRACK_TEST_POSTGRES_URL, or the local server.
func DatabaseURL() string {
	for _, k := range []string{"SHIPTRACK_TEST_DATABASE_URL", "SHIPTRACK_TEST_POSTGRES_URL"} {
		if u := os.Getenv(k); u != "" {
			return u
		}
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// RedisURL is the Redis the tests share: $SHIPTRACK_TEST_REDIS_URL, or
// the local server.
func RedisURL() string {
	if u := os.Getenv("SHIPTRACK_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// Redis requires the shared Redis to answer PING and returns its URL.
// It speaks the protocol itself, so this package needs no client library.
func Redis(t testing.TB) string {
	t.Helper()
	u := RedisURL()
	if err := pingRedis(t.Context(), u); err != nil {
		Missing(t, "Redis at "+u, err)
	}
	return u
}

func pingRedis(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "6379")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return err
	}
	defer c.Close()
	deadline, _ := ctx.Deadline()
	_ = c.SetDeadline(deadline)
	cmd := "PING\r\n"
	if pw, ok := u.User.Password(); ok {
		cmd = fmt.Sprintf("AUTH %s\r\n", pw) + cmd
	}
	if _, err := c.Write([]byte(cmd)); err != nil {
		return err
	}
	r := bufio.NewReader(c)
	for range strings.Count(cmd, "\r\n") {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if strings.HasPrefix(line, "-") {
			return fmt.Errorf("redis: %s", strings.TrimSpace(line[1:]))
		}
	}
	return nil
}
