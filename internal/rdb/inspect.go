package rdb

import (
	"context"
	"fmt"
	"io"
	"sort"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
)

// Summary describes the RDB files of a snapshot's Redis component.
type Summary struct {
	Files []FileSummary `json:"files"`
}

// FileSummary describes one RDB file, read end to end.
type FileSummary struct {
	File       string            `json:"file"`
	RDBVersion int               `json:"rdb_version"`
	Bytes      int64             `json:"bytes"`
	Aux        map[string]string `json:"aux"`
	DBs        []DBStats         `json:"dbs"`
	Functions  int               `json:"functions,omitempty"`
	Checksum   string            `json:"crc64"`
}

// Inspect reads every RDB file of the component (verifying structure and
// CRC64) and returns per-db key counts and type breakdowns.
func Inspect(ctx context.Context, src artifact.Source) (Summary, error) {
	var sum Summary
	for _, f := range src.Files() {
		if f.Format != "rdb" {
			continue
		}
		fs, err := inspectFile(ctx, src, f.Name)
		if err != nil {
			return sum, err
		}
		sum.Files = append(sum.Files, fs)
	}
	if len(sum.Files) == 0 {
		return sum, fmt.Errorf("no RDB file in this component: %w", artifact.ErrNotFound)
	}
	return sum, nil
}

func inspectFile(ctx context.Context, src artifact.Source, name string) (FileSummary, error) {
	fs := FileSummary{File: name}
	rd, err := src.Open(ctx, name)
	if err != nil {
		return fs, err
	}
	defer rd.Close()
	p := NewParser(&ctxReader{ctx: ctx, r: rd}, false)
	t := tally{}
	for {
		en, err := p.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fs, fmt.Errorf("%s: %w", name, err)
		}
		switch en.Kind {
		case KindKey:
			t.add(en.DB, en.Type, en.ExpireAt != 0)
		case KindFunction:
			fs.Functions++
		}
	}
	fs.RDBVersion, fs.Bytes, fs.Aux, fs.DBs = p.Version(), p.Offset(), p.Aux, t.list()
	fs.Checksum = fmt.Sprintf("%016x", p.Checksum())
	return fs, nil
}

// TypeNames lists the types of a DBStats in a stable order, for printing.
func (d DBStats) TypeNames() []string {
	out := make([]string, 0, len(d.Types))
	for k := range d.Types {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Export writes the component's dump.rdb as the standard stream, verifying
// its structure and CRC64 as it goes (an error means w got a bad or
// partial file). A snapshot of a backend-redis with a separate queue
// server also holds queues.rdb, which Export leaves out.
func Export(ctx context.Context, src artifact.Source, w io.Writer) error {
	rd, err := src.Open(ctx, "dump.rdb")
	if err != nil {
		return err
	}
	defer rd.Close()
	p := NewParser(io.TeeReader(&ctxReader{ctx: ctx, r: rd}, w), false)
	for {
		_, err := p.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("dump.rdb: %w", err)
		}
	}
	if p.br.w != p.br.r {
		return fmt.Errorf("dump.rdb: %w: %d bytes after the checksum", ErrFormat, p.br.w-p.br.r)
	}
	n, err := io.Copy(w, rd)
	if err == nil && n > 0 {
		err = fmt.Errorf("dump.rdb: %w: %d bytes after the checksum", ErrFormat, n)
	}
	return err
}
