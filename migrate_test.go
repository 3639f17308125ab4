package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/shiptrack/shiptrack/store/storetest"
)

// TestMigrateCommand: `shiptrack migrate` migrates an empty database and
// prints the versions as the README shows them; run again it has nothing
// to do and says so.
func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range storetest.Drivers {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			e := env(map[string]string{"SHIPTRACK_DATABASE_URL": storetest.URL(t, d), "SHIPTRACK_LOG_LEVEL": "error"})
			var first, second bytes.Buffer
			if err := run(context.Background(), []string{"migrate"}, e, &first, io.Discard); err != nil {
				t.Fatal(err)
			}
			for _, l := range strings.Split(strings.TrimSpace(first.String()), "\n") {
				if !strings.Contains(string(readme), "      "+l+"\n") {
					t.Errorf("first run prints %q, not in the README's example", l)
				}
			}
			if err := run(context.Background(), []string{"migrate"}, e, &second, io.Discard); err != nil {
				t.Fatal(err)
			}
			after := strings.TrimPrefix(strings.Split(first.String(), "\n")[1], "schema version after: ")
			if want := "schema version before: " + after + "\nschema version after: " + after + "\n"; second.String() != want {
				t.Errorf("second run prints %q, want %q", second.String(), want)
			}
			if err := run(context.Background(), []string{"migrate", "x"}, e, io.Discard, io.Discard); err == nil {
				t.Error("migrate x: no usage error")
			}
		})
	}
}
