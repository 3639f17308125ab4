package main

// Deployment checks for machines without a Docker engine: compose.yaml is
// loaded with the loader Docker Compose itself uses, the Dockerfile is read
// as text, and its release build command is run for real to prove the
// binary is static and serves.

import (
	"debug/elf"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/mattn/go-shellwords"

	"github.com/shiptrack/shiptrack/internal/testenv"
)

// TestComposeFile loads compose.yaml as `docker compose` would and checks
// the deployment: PostgreSQL and Redis with named volumes and healthchecks,
// the app waiting for both to be healthy, published on port 80, with its
// secrets interpolated from the environment. It also checks the Dockerfile
// and .env.example. It sets environment variables, so it is not parallel.
func TestComposeFile(t *testing.T) {
	const (
		key      = "weather-key-from-the-environment-3b9e1f"
		password = "pgpassfromtheenvironment7c2d"
	)
	t.Setenv("SHIPTRACK_WEATHERAPI_KEY", key)
	t.Setenv("POSTGRES_PASSWORD", password)

	opts, err := cli.NewProjectOptions([]string{"compose.yaml"},
		cli.WithOsEnv, cli.WithDotEnv, cli.WithName("shiptrack"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := cli.ProjectFromOptions(t.Context(), opts)
	if err != nil {
		t.Fatalf("docker compose would reject compose.yaml: %v", err)
	}
	svc := make(map[string]types.ServiceConfig)
	for _, name := range []string{"postgres", "redis", "app"} {
		s, err := p.GetService(name)
		if err != nil {
			t.Fatalf("service %s: %v", name, err)
		}
		svc[name] = s
	}

	for name, s := range svc {
		if s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) == 0 {
			t.Errorf("service %s has no healthcheck", name)
		}
		if s.Restart != types.RestartPolicyUnlessStopped {
			t.Errorf("service %s: restart %q, want unless-stopped", name, s.Restart)
		}
	}
	hcText := func(name string) string {
		if hc := svc[name].HealthCheck; hc != nil {
			return strings.Join(hc.Test, " ")
		}
		return ""
	}
	if hc := hcText("postgres"); !strings.Contains(hc, "pg_isready") {
		t.Errorf("postgres healthcheck %q does not run pg_isready", hc)
	}
	if hc := hcText("redis"); !strings.Contains(hc, "redis-cli") || !strings.Contains(hc, "ping") {
		t.Errorf("redis healthcheck %q does not run redis-cli ping", hc)
	}
	if hc := hcText("app"); hc != "CMD /shiptrack healthcheck" {
		t.Errorf("app healthcheck %q, want CMD /shiptrack healthcheck", hc)
	}

	// Data lives in named volumes declared at the top level.
	for name, target := range map[string]string{"postgres": "/var/lib/postgresql/data", "redis": "/data"} {
		i := slices.IndexFunc(svc[name].Volumes, func(v types.ServiceVolumeConfig) bool { return v.Target == target })
		if i < 0 {
			t.Errorf("service %s mounts nothing on %s", name, target)
			continue
		}
		v := svc[name].Volumes[i]
		if _, declared := p.Volumes[v.Source]; v.Type != types.VolumeTypeVolume || !declared {
			t.Errorf("service %s: %s is a %s %q, want a named volume declared under volumes:", name, target, v.Type, v.Source)
		}
	}

	app := svc["app"]
	if app.Build == nil {
		t.Error("app has no build section")
	} else if df := filepath.Join(app.Build.Context, deployOr(app.Build.Dockerfile, "Dockerfile")); !deployFileExists(df) {
		t.Errorf("app builds from %s, which does not exist", df)
	}
	if !slices.ContainsFunc(app.Ports, func(pc types.ServicePortConfig) bool {
		return pc.Published == "80" && pc.Target == 8080 && deployOr(pc.Protocol, "tcp") == "tcp"
	}) {
		t.Errorf("app ports %+v, want host 80 -> container 8080", app.Ports)
	}
	for _, dep := range []string{"postgres", "redis"} {
		if d, ok := app.DependsOn[dep]; !ok || d.Condition != types.ServiceConditionHealthy {
			t.Errorf("app depends_on %s: %+v, want condition service_healthy", dep, d)
		}
	}

	appEnv := func(k string) string {
		if v := app.Environment[k]; v != nil {
			return *v
		}
		return ""
	}
	if got := appEnv("SHIPTRACK_WEATHERAPI_KEY"); got != key {
		t.Errorf("app SHIPTRACK_WEATHERAPI_KEY = %q, want %q from the environment", got, key)
	}
	raw, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Secrets are never written in the file, only interpolated.
	for _, secret := range []string{"SHIPTRACK_WEATHERAPI_KEY", "SHIPTRACK_API_TOKENS", "SHIPTRACK_API_WRITE_TOKENS"} {
		re := regexp.MustCompile(`(?m)^\s*-?\s*` + secret + `\s*[:=]\s*(.*)$`)
		for _, m := range re.FindAllStringSubmatch(string(raw), -1) {
			if !strings.HasPrefix(m[1], "${"+secret) {
				t.Errorf("compose.yaml sets %s to %q; it must come from ${%[1]s}", secret, m[1])
			}
		}
	}

	// The app's database URL must match what the postgres service creates,
	// and the app's environment must pass the binary's own config checks.
	pgEnv := func(k string) string {
		if v := svc["postgres"].Environment[k]; v != nil {
			return *v
		}
		return ""
	}
	if pgEnv("POSTGRES_PASSWORD") != password {
		t.Errorf("postgres POSTGRES_PASSWORD = %q, want %q from the environment", pgEnv("POSTGRES_PASSWORD"), password)
	}
	db, err := url.Parse(appEnv("SHIPTRACK_DATABASE_URL"))
	if err != nil {
		t.Fatalf("app SHIPTRACK_DATABASE_URL: %v", err)
	}
	pw, _ := db.User.Password()
	if db.Scheme != "postgres" || db.Hostname() != "postgres" || db.User.Username() != deployOr(pgEnv("POSTGRES_USER"), "postgres") ||
		pw != pgEnv("POSTGRES_PASSWORD") || strings.TrimPrefix(db.Path, "/") != deployOr(pgEnv("POSTGRES_DB"), db.User.Username()) {
		t.Errorf("app SHIPTRACK_DATABASE_URL %s does not match the postgres service's user, password and database", db.Redacted())
	}
	if r, err := url.Parse(appEnv("SHIPTRACK_REDIS_URL")); err != nil || r.Scheme != "redis" || r.Hostname() != "redis" {
		t.Errorf("app SHIPTRACK_REDIS_URL = %q, want redis://redis:6379/0", appEnv("SHIPTRACK_REDIS_URL"))
	}
	if _, err := loadConfig("", func(k string) (string, bool) { return appEnv(k), app.Environment[k] != nil }); err != nil {
		t.Errorf("the app's compose environment fails the config checks: %v", err)
	}

	// .env.example documents every variable compose.yaml interpolates.
	example, err := dotenv.Read(".env.example")
	if err != nil {
		t.Fatalf(".env.example: %v", err)
	}
	var yamlLines []string // compose.yaml without its comment lines
	for line := range strings.Lines(string(raw)) {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			yamlLines = append(yamlLines, line)
		}
	}
	for _, m := range regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)`).FindAllStringSubmatch(strings.Join(yamlLines, ""), -1) {
		if _, ok := example[m[1]]; !ok {
			t.Errorf("compose.yaml uses ${%s} but .env.example does not list it", m[1])
		}
	}
	if _, ok := example["SHIPTRACK_WEATHERAPI_KEY"]; !ok {
		t.Error(".env.example does not list SHIPTRACK_WEATHERAPI_KEY")
	}

	t.Run("Dockerfile", testDeployDockerfile)
}

// testDeployDockerfile checks the Dockerfile's shape: a Go build stage running
// the static release build, and a minimal non-root final stage with a
// healthcheck.
func testDeployDockerfile(t *testing.T) {
	df := readDeployDockerfile(t)
	var stages [][]deployInstruction
	for _, in := range df {
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) > 0 {
			stages[len(stages)-1] = append(stages[len(stages)-1], in)
		}
	}
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a build stage and a final stage", len(stages))
	}
	if from := stages[0][0].args; !strings.HasPrefix(from, "golang:1.26") {
		t.Errorf("build stage FROM %s, want golang:1.26-bookworm", from)
	}
	final := stages[len(stages)-1]
	image, _, _ := strings.Cut(final[0].args, " ")
	distroless := strings.HasPrefix(image, "gcr.io/distroless/static")
	if image != "scratch" && !distroless {
		t.Errorf("final stage FROM %s, want scratch or gcr.io/distroless/static", image)
	}
	find := func(cmd string) (deployInstruction, bool) {
		var last deployInstruction
		found := false
		for _, in := range final {
			if in.cmd == cmd {
				last, found = in, true
			}
		}
		return last, found
	}
	user, hasUser := find("USER")
	if hasUser {
		if u := strings.Split(user.args, ":")[0]; u == "root" || u == "0" {
			t.Errorf("final stage runs as %s", user.args)
		}
	} else if !strings.HasSuffix(image, ":nonroot") {
		t.Error("final stage has no USER and is not a :nonroot image")
	}
	if image == "scratch" && !slices.ContainsFunc(final, func(in deployInstruction) bool {
		return in.cmd == "COPY" && strings.Contains(in.args, "ca-certificates")
	}) {
		t.Error("scratch final stage copies no CA certificates (needed for HTTPS to the weather provider)")
	}
	if hc, ok := find("HEALTHCHECK"); !ok {
		t.Error("final stage has no HEALTHCHECK")
	} else if i := strings.Index(hc.args, "CMD "); i < 0 || !deployJSONArgs(hc.args[i+4:], "/shiptrack", "healthcheck") {
		t.Errorf("HEALTHCHECK %s, want CMD [\"/shiptrack\", \"healthcheck\"]", hc.args)
	}
	if in, _ := find("ENTRYPOINT"); !deployJSONArgs(in.args, "/shiptrack") {
		t.Errorf("ENTRYPOINT %q, want [\"/shiptrack\"]", in.args)
	}
	if in, _ := find("CMD"); !deployJSONArgs(in.args, "serve") {
		t.Errorf("CMD %q, want [\"serve\"]", in.args)
	}
	if in, _ := find("EXPOSE"); !slices.Contains(strings.Fields(in.args), "8080") {
		t.Errorf("EXPOSE %q, want 8080", in.args)
	}

	b := dockerfileReleaseBuild(t)
	if !slices.Contains(b.env, "CGO_ENABLED=1") {
		t.Errorf("build command env %q lacks CGO_ENABLED=1 (SQLite is cgo)", b.env)
	}
	ldflags := deployFlagValue(b.args, "-ldflags")
	if !regexp.MustCompile(`-extldflags\s+"?'?-static\b`).MatchString(ldflags) {
		t.Errorf("build -ldflags %q lack -extldflags -static", ldflags)
	}
	if !slices.Contains(b.args, "-trimpath") {
		t.Error("build command lacks -trimpath")
	}
	// The comment documenting the release build must match what runs.
	if !slices.ContainsFunc(b.comments, func(c []string) bool { return slices.Equal(c, b.words) }) {
		t.Errorf("no Dockerfile comment shows the build command that runs:\n  %s", strings.Join(b.words, " "))
	}
}

// TestStaticBinary builds the release binary with the Dockerfile's own
// build command, checks it is statically linked, then runs it as the
// container would: serve, answer, healthcheck, stop cleanly on SIGTERM.
func TestStaticBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the release binary (a minute or two); skipped with -short")
	}
	if runtime.GOOS != "linux" {
		t.Skip("the release build is static glibc on Linux")
	}
	t.Parallel()

	b := dockerfileReleaseBuild(t)
	for _, kv := range b.env {
		if cc, ok := strings.CutPrefix(kv, "CC="); ok {
			testenv.Binaries(t, cc) // musl-gcc, from Debian's musl-tools
		}
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "shiptrack")
	args := slices.Clone(b.args)
	i := slices.Index(args, "-o")
	if i < 0 || i+1 >= len(args) {
		t.Fatalf("the Dockerfile's build command has no -o: %q", b.words)
	}
	args[i+1] = bin
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	build := exec.CommandContext(t.Context(), goTool, append([]string{"build"}, args...)...)
	build.Env = append(os.Environ(), b.env...)
	start := time.Now()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(b.words, " "), err, out)
	}
	t.Logf("release build took %s", time.Since(start).Round(time.Second))
	// The image is scratch plus this binary plus ~0.2 MB of certificates
	// and passwd: the binary must leave room under the 30 MB image limit.
	fi, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("binary: %.1f MB", float64(fi.Size())/1e6)
	const limit = 29_700_000
	if fi.Size() > limit {
		t.Errorf("release binary is %d bytes; over %d the scratch image passes 30 MB", fi.Size(), limit)
	}

	checkStaticBinary(t, bin)

	srv := startBinary(t, bin, map[string]string{
		"SHIPTRACK_DATABASE_URL":     "sqlite:" + filepath.Join(dir, "t.db"),
		"SHIPTRACK_WEATHER_PROVIDER": "off",
	})
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(srv.base + "/shipment/")
	if err != nil {
		t.Fatal(err)
	}
	var list []json.RawMessage
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /shipment/: %d, %v", resp.StatusCode, err)
	}
	if len(list) != 5 {
		t.Errorf("GET /shipment/: %d shipments, want the 5 of the seed", len(list))
	}

	if out, err := srv.command("healthcheck").CombinedOutput(); err != nil {
		t.Errorf("shiptrack healthcheck against a running server: %v\n%s", err, out)
	}

	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-srv.done:
		if srv.err != nil {
			t.Errorf("exit after SIGTERM: %v, want status 0\n%s", srv.err, srv.logs)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("still running 20s after SIGTERM\n%s", srv.logs)
	}

	// With the server gone the healthcheck must fail, or it proves nothing.
	if err := srv.command("healthcheck").Run(); err == nil {
		t.Error("shiptrack healthcheck succeeded with no server running")
	}
}

// checkStaticBinary requires bin to be a static executable by its ELF headers,
// by file(1) and by ldd(1). The tools are skipped, with a log line, only
// when they are not installed.
func checkStaticBinary(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if slices.ContainsFunc(f.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP }) {
		t.Error("binary has an ELF interpreter: it is dynamically linked")
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("binary needs shared libraries %q", libs)
	}

	if _, err := exec.LookPath("file"); err != nil {
		t.Log("file(1) is not installed; relying on the ELF check")
	} else {
		out, err := exec.Command("file", "-b", bin).CombinedOutput()
		if s := string(out); err != nil || !strings.Contains(s, "statically linked") && !strings.Contains(s, "static-pie linked") {
			t.Errorf("file: %v: %s, want statically linked", err, s)
		}
	}
	if _, err := exec.LookPath("ldd"); err != nil {
		t.Log("ldd(1) is not installed; relying on the ELF check")
	} else {
		// ldd exits 1 for a static binary; its words are what matter.
		out, _ := exec.Command("ldd", bin).CombinedOutput()
		if s := string(out); strings.Contains(s, "=>") ||
			!strings.Contains(s, "not a dynamic executable") && !strings.Contains(s, "statically linked") {
			t.Errorf("ldd: %s, want \"not a dynamic executable\"", s)
		}
	}
}

// deployInstruction is one Dockerfile instruction, continuation lines
// joined and comments removed.
type deployInstruction struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
}

// deployDockerfile is the parsed Dockerfile and its comment lines.
type deployDockerfile struct {
	instructions []deployInstruction
	comments     []string // text after "#", trimmed
}

func parseDeployDockerfile(src string) deployDockerfile {
	var df deployDockerfile
	var cur strings.Builder
	for line := range strings.Lines(src) {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			df.comments = append(df.comments, strings.TrimSpace(strings.TrimPrefix(trimmed, "#")))
			continue
		}
		if trimmed == "" {
			continue
		}
		if cont, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(trimmed)
		if cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " "); cmd != "" {
			df.instructions = append(df.instructions, deployInstruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
		}
		cur.Reset()
	}
	return df
}

// readDeployDockerfile returns the Dockerfile's instructions.
func readDeployDockerfile(t *testing.T) []deployInstruction {
	t.Helper()
	raw, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	return parseDeployDockerfile(string(raw)).instructions
}

// deployBuildCommand is the Dockerfile's `go build` RUN line.
type deployBuildCommand struct {
	words    []string   // the command as words: NAME=VALUE... go build ARGS...
	env      []string   // its NAME=VALUE prefix
	args     []string   // the arguments after "go build"
	comments [][]string // comment lines that contain "go build", as words
}

// dockerfileReleaseBuild finds the one RUN instruction that runs `go build` and
// splits it as sh would. It must be a simple command (no &&, pipes or
// expansions) so the test can run exactly what the image build runs.
func dockerfileReleaseBuild(t *testing.T) deployBuildCommand {
	t.Helper()
	raw, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := parseDeployDockerfile(string(raw))
	var b deployBuildCommand
	for _, c := range df.comments {
		if strings.Contains(c, "go build") {
			if w, err := deployShellWords(c); err == nil {
				b.comments = append(b.comments, w)
			}
		}
	}
	var runs []string
	for _, in := range df.instructions {
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			runs = append(runs, in.args)
		}
	}
	if len(runs) != 1 {
		t.Fatalf("Dockerfile has %d RUN instructions with go build, want 1", len(runs))
	}
	words, err := deployShellWords(runs[0])
	if err != nil {
		t.Fatalf("Dockerfile go build RUN: %v", err)
	}
	for len(words) > 0 && strings.HasPrefix(words[0], "--") { // RUN --mount=...
		words = words[1:]
	}
	b.words = words
	envVar := regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)
	for len(words) > 0 && envVar.MatchString(words[0]) {
		b.env, words = append(b.env, words[0]), words[1:]
	}
	if len(words) < 2 || words[0] != "go" || words[1] != "build" {
		t.Fatalf("Dockerfile RUN %q is not [VAR=value...] go build ...", runs[0])
	}
	b.args = words[2:]
	return b
}

// deployShellWords splits a simple sh command line into words with
// go-shellwords (quotes and backslashes as sh does). Anything that needs a
// real shell (operators, expansions, globs, comments) is an error.
func deployShellWords(s string) ([]string, error) {
	// With ParseEnv and ParseBacktick off go-shellwords keeps $, globs and
	// the rest as text, so refuse them here where sh would act on them:
	// anywhere but in single quotes ($ and ` also in double quotes).
	var quote byte
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			}
		case c == '\\':
			i++
		case quote == '"' && (c == '$' || c == '`'):
			return nil, fmt.Errorf("shell expansion %q in double quotes", c)
		case quote == '"':
			if c == '"' {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case strings.IndexByte("$`(){}*?[~", c) >= 0 || c == '#' && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t'):
			return nil, fmt.Errorf("shell syntax %q: keep the build RUN a simple command", c)
		}
	}
	p := shellwords.NewParser()
	words, err := p.Parse(s)
	if err != nil {
		return nil, err
	}
	if p.Position >= 0 {
		return nil, fmt.Errorf("shell operator %q: keep the build RUN a simple command", s[p.Position])
	}
	return words, nil
}

// deployFlagValue returns the value of flag name in args ("-f v" or "-f=v").
func deployFlagValue(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

// deployJSONArgs reports whether s is a JSON (exec form) array equal to want.
func deployJSONArgs(s string, want ...string) bool {
	var got []string
	return json.Unmarshal([]byte(s), &got) == nil && slices.Equal(got, want)
}

// deployOr returns s, or def when s is empty.
func deployOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// deployFileExists reports whether path is an existing regular file.
func deployFileExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}
