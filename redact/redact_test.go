package redact

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	t.Parallel()
	const key = "c0ffee5ecret0key1234567890abcd"
	tests := []struct {
		name, in string
		secrets  []string
		leaks    []string // none of these may remain
		keeps    []string // these must remain
	}{
		{"userinfo", "store: open postgres://u:s3cretpw@db:5432/x failed", nil, []string{"s3cretpw"}, []string{"postgres://u:REDACTED@db:5432/x"}},
		{"stray percent", `parse "postgres://u:pa%ZZss@db/x": invalid URL escape "%ZZ"`, nil, []string{"pa%ZZss"}, []string{"u:REDACTED@db"}},
		{"redis without user", `redis: invalid URL "redis://:pa%ZZss@127.0.0.1:6379/0"`, nil, []string{"pa%ZZss"}, []string{"redis://:REDACTED@127.0.0.1"}},
		{"password parameter", "cannot parse `postgres://db/x?user=u&password=hunter22&sslmode=bogus`: sslmode is invalid", nil, []string{"hunter22"}, []string{"password=REDACTED&sslmode=bogus", "user=u"}},
		{"keyword/value", "host=db user=u password=hunter22 sslmode=bogus", nil, []string{"hunter22"}, []string{"sslmode=bogus"}},
		{"key parameter", "Get https://api.weatherapi.com/v1/current.json?key=abc123&q=Paris", nil, []string{"abc123"}, []string{"q=Paris"}},
		{"key as given", "HTTP 401: API key " + key + " is invalid", []string{key}, []string{key}, []string{"HTTP 401: API key REDACTED is invalid"}},
		{"key in upper case", "key " + strings.ToUpper(key) + " invalid", []string{key}, []string{strings.ToUpper(key), "C0FFEE"}, nil},
		{"key truncated", "key c0ffee5ecr... is invalid", []string{key}, []string{"c0ffee5ecr", "c0ff"}, []string{"... is invalid"}},
		{"key prefix of 4", "got C0Ff back", []string{key}, []string{"C0Ff"}, []string{"got ", " back"}},
		{"shorter than 4 is kept", "c0f is not the key", []string{key}, nil, []string{"c0f is not the key"}},
		{"escaped secret", "echo a%2Fb%3Dc", []string{"a/b=c"}, []string{"a%2Fb%3Dc"}, nil},
		{"no secret", "dial tcp 127.0.0.1:6379: connect: connection refused", []string{key}, nil, []string{"dial tcp 127.0.0.1:6379: connect: connection refused"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := String(tc.in, tc.secrets...)
			for _, l := range tc.leaks {
				if strings.Contains(got, l) {
					t.Errorf("String(%q) = %q still holds %q", tc.in, got, l)
				}
			}
			for _, k := range tc.keeps {
				if !strings.Contains(got, k) {
					t.Errorf("String(%q) = %q lost %q", tc.in, got, k)
				}
			}
		})
	}
}

func TestSecrets(t *testing.T) {
	t.Parallel()
	got := Secrets("postgres://u:p%40ss@db/x?password=two&sslmode=disable")
	want := map[string]bool{"p%40ss": true, "p@ss": true, "two": true}
	for _, s := range got {
		delete(want, s)
	}
	if len(want) != 0 {
		t.Errorf("Secrets = %q, missing %v", got, want)
	}
}

func TestError(t *testing.T) {
	t.Parallel()
	base := fmt.Errorf("open postgres://u:pw1234@db/x: %w", io.EOF)
	err := Error(base, "pw1234")
	if strings.Contains(err.Error(), "pw1234") || !errors.Is(err, io.EOF) {
		t.Errorf("Error() = %q, errors.Is EOF %v", err, errors.Is(err, io.EOF))
	}
	if Error(nil) != nil {
		t.Error("Error(nil) != nil")
	}
	if clean := errors.New("plain"); Error(clean, "x1234") != clean {
		t.Error("an error without secrets should be returned as is")
	}
}
