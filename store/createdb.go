package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// missingDatabase reports whether err is PostgreSQL refusing a connection
// because the database named in the URL does not exist (3D000).
func missingDatabase(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "3D000"
}

// createDatabase creates the database named by dbURL, connecting to the
// server's "postgres" maintenance database with the same credentials. A
// replica that created it first is not an error.
func createDatabase(ctx context.Context, dbURL string) (string, error) {
	u, err := url.Parse(dbURL)
	if err != nil {
		return "", fmt.Errorf("store: database URL: %w", err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" || name == "postgres" {
		return "", errors.New("store: no database name to create")
	}
	u.Path = "/postgres"
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		return "", fmt.Errorf("store: database %q does not exist, and connecting to the postgres database to create it failed: %w", name, wrapUnavailable(err))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		return name, nil
	// 42P04: it exists now; 23505: two CREATE DATABASE statements raced
	// on pg_database's unique index. Either way another replica made it.
	case errors.As(err, &pgErr) && (pgErr.Code == "42P04" || pgErr.Code == "23505"):
		return "", nil
	case errors.As(err, &pgErr) && pgErr.Code == "42501":
		return "", fmt.Errorf("store: database %q does not exist and this user may not create it; create it (createdb -h HOST -U USER %s) or grant CREATEDB: %w", name, name, err)
	}
	return "", fmt.Errorf("store: create database %q: %w", name, wrapUnavailable(err))
}

// CreatedDatabase names the PostgreSQL database Open created because it
// did not exist; "" when it existed (or on SQLite).
func (s *Store) CreatedDatabase() string { return s.createdDB }

// onceEach prints its error with repeated lines dropped: pgx reports each
// connection attempt, and with sslmode=prefer (TLS, then plain) the same
// refusal twice.
type onceEach struct{ err error }

func (e onceEach) Error() string {
	lines := strings.Split(e.err.Error(), "\n")
	seen := make(map[string]bool, len(lines))
	out := lines[:0]
	for _, l := range lines {
		if !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func (e onceEach) Unwrap() error { return e.err }
