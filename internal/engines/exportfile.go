package engines

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/errs"
)

// ExportFile writes a component's standard stream to path. It writes beside
// path and renames at the end, so a failed export leaves no file that looks
// complete. It returns the size written.
func ExportFile(ctx context.Context, name string, src artifact.Source, path string) (int64, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-*")
	if err != nil {
		return 0, errs.UsageError("check --file", "create %s: %v", path, err)
	}
	err = Export(ctx, name, src, f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return 0, fmt.Errorf("export %s to %s: %w", name, path, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}
