// Package migrations holds Tabula's database schema as versioned SQL files, one
// directory per storage engine, embedded in the binary.
//
// The files are in goose format (-- +goose Up / -- +goose Down), named
// NNNNN_subject.sql, and applied in version order by the storage drivers when
// they open a database (storage/postgres, storage/sqlite). A file, once
// released, is never edited: a schema change is a new file with the next
// version. The two engines' schemas hold the same tables with the same
// meaning, so both drivers pass one conformance suite.
//
// A migration SQL cannot express for one engine is written in Go for it
// (SQLiteGo), with the version its file would have had; the drivers pass
// those to goose with goose.WithGoMigrations.
//
// Each filesystem keeps its directory prefix: use fs.Sub(Postgres, "postgres")
// and fs.Sub(SQLite, "sqlite") to get the migration files at the root.
package migrations

import "embed"

// Postgres holds the PostgreSQL migrations under the directory "postgres".
//
//go:embed postgres/*.sql
var Postgres embed.FS

// SQLite holds the SQLite migrations under the directory "sqlite".
//
//go:embed sqlite/*.sql
var SQLite embed.FS
