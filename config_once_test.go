package main

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/labstack/echo/v4/middleware"
	"go.yaml.in/yaml/v3"
)

// TestConfigEmptyEnvClearsFile: a variable set but empty clears what the
// file set (issue 14); on a setting that must not be empty, the error
// names the variable.
func TestConfigEmptyEnvClearsFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "c.yaml")
	file := "redis:\n  url: redis://127.0.0.1:6379/0\napi:\n  tokens: [alpha]\ndebug:\n  pprof_listen: 127.0.0.1:6060\n" +
		"weather:\n  provider: off\n  weatherapi_key: k\n"
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  string
		got  func(config) any
		want any
		err  string // "" = accepted; else a part of the error
	}{
		{"redis url", "SHIPTRACK_REDIS_URL", func(c config) any { return c.Redis.URL }, "", ""},
		{"tokens", "SHIPTRACK_API_TOKENS", func(c config) any { return c.API.Tokens }, []string(nil), ""},
		{"pprof", "SHIPTRACK_PPROF_LISTEN", func(c config) any { return c.Debug.PprofListen }, "", ""},
		{"provider", "SHIPTRACK_WEATHER_PROVIDER", func(c config) any { return c.Weather.Provider }, "", ""},
		{"key", "SHIPTRACK_WEATHERAPI_KEY", func(c config) any { return c.Weather.WeatherAPIKey }, "", ""},
		{"blank is empty", "SHIPTRACK_REDIS_URL", func(c config) any { return c.Redis.URL }, "", ""},
		{"listen must not be empty", "SHIPTRACK_LISTEN", nil, nil, "config: SHIPTRACK_LISTEN: must not be empty"},
		{"interval cleared", "SHIPTRACK_WEATHER_INTERVAL", nil, nil, "config: SHIPTRACK_WEATHER_INTERVAL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			value := ""
			if tt.name == "blank is empty" {
				value = "  "
			}
			c, err := loadConfig(path, env(map[string]string{tt.env: value}))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("err = %v, want one naming %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.got(c); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s= left %#v, want %#v", tt.env, got, tt.want)
			}
		})
	}
	// Without the variables the file's values hold.
	c, err := loadConfig(path, env(nil))
	if err != nil || c.Redis.URL == "" || c.API.Tokens == nil || c.Debug.PprofListen == "" || c.Weather.Provider != "off" {
		t.Errorf("file values not applied: %+v, %v", c, err)
	}
}

// TestConfigBodyLimitAsEcho: http.body_limit accepts exactly the sizes
// Echo's BodyLimit middleware accepts (it panics on the others), checked
// without recovering that panic in the service.
func TestConfigBodyLimitAsEcho(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"64K", "64k", "64KB", "1M", "1.5M", "2G", "1", "0", "100B", "1T", "1P", "1E",
		"lots", "-1", "1Q", "K", "64 K", " 64K", "1e3", "0x10", "1,000"} {
		echoRefuses := func() (panicked bool) {
			defer func() { panicked = recover() != nil }()
			middleware.BodyLimit(strings.TrimSpace(v)) // a variable's value is trimmed
			return false
		}()
		_, err := loadConfig("", env(map[string]string{"SHIPTRACK_HTTP_BODY_LIMIT": v}))
		if refused := err != nil; refused != echoRefuses {
			t.Errorf("body_limit %q: refused %v (%v), Echo refuses %v", v, refused, err, echoRefuses)
		}
		if err != nil && !strings.Contains(err.Error(), "SHIPTRACK_HTTP_BODY_LIMIT") {
			t.Errorf("body_limit %q: error %v does not name the variable", v, err)
		}
	}
}

// TestConfigDocumented: the struct is the one declaration; config.yaml and
// the README's Configuration table list exactly its settings, each with
// its variable, and the README's defaults are config.yaml's (whose values
// TestConfigFileDocumentsDefaults checks against defaultConfig).
func TestConfigDocumented(t *testing.T) {
	t.Parallel()
	var c config
	want := make(map[string]string) // key -> variable
	vars := make(map[string]bool)
	for _, s := range c.settings() {
		if _, dup := want[s.key]; dup || vars[s.env] {
			t.Errorf("setting %s (%s) declared twice", s.key, s.env)
		}
		want[s.key], vars[s.env] = s.env, true
	}

	raw, err := os.ReadFile("config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	inFile := make(map[string]string) // key -> value
	for _, n := range leafNodes(nil, "", doc.Content[0]) {
		inFile[n.key] = n.node.Value
		env, ok := want[n.key]
		if !ok {
			t.Errorf("config.yaml has %s, which is no setting", n.key)
			continue
		}
		if !regexp.MustCompile(`^# ` + env + `(:|$)`).MatchString(n.node.LineComment) {
			t.Errorf("config.yaml %s: comment %q does not start with its variable %s", n.key, n.node.LineComment, env)
		}
	}

	row := regexp.MustCompile("(?m)^\\| `([a-z_.]+)` \\| `(SHIPTRACK_[A-Z_]+)` \\| (`[^`]*`|empty) \\|")
	inReadme := make(map[string]bool)
	for _, m := range row.FindAllStringSubmatch(readmeSection(t, "Configuration"), -1) {
		key, env, def := m[1], m[2], strings.Trim(m[3], "`")
		if m[3] == "empty" {
			def = ""
		}
		inReadme[key] = true
		switch v, ok := want[key]; {
		case !ok:
			t.Errorf("README table has %s, which is no setting", key)
		case v != env:
			t.Errorf("README table: %s has variable %s, want %s", key, env, v)
		case def != inFile[key]:
			t.Errorf("README table: %s default %q, config.yaml says %q", key, def, inFile[key])
		}
	}
	for key, env := range want {
		if _, ok := inFile[key]; !ok {
			t.Errorf("config.yaml does not document %s (%s)", key, env)
		}
		if !inReadme[key] {
			t.Errorf("the README Configuration table has no row for %s (%s)", key, env)
		}
	}
}
