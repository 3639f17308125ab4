package main

import (
	"context"
	"fmt"
	"io"

	"github.com/shiptrack/shiptrack/store"
)

// migrateDB applies the pending schema migrations and prints the version
// before and after, so they can run ahead of a rolling deploy (serve
// applies them at start-up too).
func migrateDB(ctx context.Context, cfg config, stdout io.Writer) error {
	res, err := store.Migrate(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	before := fmt.Sprint(res.Before)
	switch {
	case res.Baselined:
		before = "none (made before versioned migrations; recorded as version 1)"
	case res.Before == 0:
		before = "0 (empty database)"
	}
	fmt.Fprintf(stdout, "schema version before: %s\nschema version after: %d\n", before, res.After)
	return nil
}
