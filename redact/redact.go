// Package redact is the one place where credentials are scrubbed from
// text that may reach logs, errors, metrics or public endpoints: URLs with
// a password in their userinfo or query (database and Redis URLs, also
// malformed ones that fail to parse and are echoed by the parser), and
// known secrets such as the weather API key, which a provider may echo
// altered: in another case, or cut short.
package redact

import (
	"net/url"
	"regexp"
	"strings"
)

// Mask replaces every credential.
const Mask = "REDACTED"

// MinPrefix is the shortest leading part of a secret that is still
// redacted: a provider that echoes the key truncated leaks its first
// characters, and four of them narrow a search enough to matter.
const MinPrefix = 4

var (
	// userinfo matches "scheme://user:password@"; the password may hold
	// anything but "@" and whitespace, stray "%" included, so URLs a
	// parser refused are covered too.
	userinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*):([^@\s]*)@`)
	// param matches a password-like query parameter or keyword/value
	// setting ("password=...", "sslpassword=...").
	param = regexp.MustCompile(`(?i)\b((?:ssl)?password|passwd|pwd|secret|api_?key|key|token)=([^&\s"'` + "`" + `]*)`)
)

// URL returns s with URL credentials replaced: the password of any
// "scheme://user:password@" and the value of password-like parameters. s
// need not be a valid URL; it may be any text that contains some.
func URL(s string) string {
	s = userinfo.ReplaceAllString(s, "${1}:"+Mask+"@")
	return param.ReplaceAllString(s, "${1}="+Mask)
}

// Secrets returns the passwords a URL carries (userinfo and query), raw
// and unescaped, so that text derived from them can be redacted with
// String even where it is no longer in URL form.
func Secrets(rawURL string) []string {
	var out []string
	for _, m := range userinfo.FindAllStringSubmatch(rawURL, -1) {
		out = append(out, m[2])
	}
	for _, m := range param.FindAllStringSubmatch(rawURL, -1) {
		out = append(out, m[2])
	}
	for _, s := range out {
		if u, err := url.PathUnescape(s); err == nil && u != s {
			out = append(out, u)
		}
	}
	return out
}

// String returns s with URL credentials (URL) and every secret replaced.
// A secret is matched in any letter case, also URL-escaped, and also when
// only a leading part of at least MinPrefix characters appears (a
// truncated echo).
func String(s string, secrets ...string) string {
	s = URL(s)
	for _, sec := range secrets {
		if sec == "" {
			continue
		}
		s = prefixes(s, sec)
		if esc := url.QueryEscape(sec); esc != sec {
			s = prefixes(s, esc)
		}
	}
	return s
}

// prefixes replaces every run of s that equals, ignoring ASCII case, a
// leading part of secret of at least MinPrefix bytes (all of it when it is
// shorter).
func prefixes(s, secret string) string {
	least := min(MinPrefix, len(secret))
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); {
		n := 0
		for n < len(secret) && i+n < len(s) && foldEq(s[i+n], secret[n]) {
			n++
		}
		if n >= least && n > 0 {
			b.WriteString(s[last:i])
			b.WriteString(Mask)
			i += n
			last = i
			continue
		}
		i++
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func foldEq(a, b byte) bool {
	if a == b {
		return true
	}
	if 'A' <= a && a <= 'Z' {
		a += 'a' - 'A'
	}
	if 'A' <= b && b <= 'Z' {
		b += 'a' - 'A'
	}
	return a == b
}

// Error wraps err so that its text goes through String with secrets; the
// chain is kept for errors.Is and errors.As. The text is computed at once,
// so the wrapper holds no secret itself. A nil err stays nil.
func Error(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if red := String(msg, secrets...); red != msg {
		return &redacted{err: err, msg: red}
	}
	return err
}

type redacted struct {
	err error
	msg string
}

func (e *redacted) Error() string { return e.msg }
func (e *redacted) Unwrap() error { return e.err }
