package repo

import "github.com/3scale-ops/3scale-ops/internal/artifact"

var (
	artifactNotFound = artifact.ErrNotFound
	artifactCorrupt  = artifact.ErrCorrupt
)
